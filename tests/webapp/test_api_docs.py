"""/api/docs/ works offline: Swagger UI's assets are served by the app, not a CDN."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import httpx

from webapp.wsgi import application

# Every URL the page loads: script and link tags, and the strings its inline script fetches.
_URL_RE = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|["'](https?://[^"']+)["']""")


def test_the_docs_page_loads_every_asset_from_the_app_itself() -> None:
    # Through the WSGI app the web server runs (with its static files handler), not the test
    # client, so the asset URLs are checked as a browser would fetch them.
    with httpx.Client(
        transport=httpx.WSGITransport(app=application), base_url="http://127.0.0.1"
    ) as client:
        page = client.get("/api/docs/")
        urls = [found for pair in _URL_RE.findall(page.text) for found in pair if found]
        assets = [url for url in urls if url.endswith((".js", ".css", ".png"))]
        fetched = {url: client.get(url) for url in assets}

    assert page.status_code == 200 and "swagger-ui" in page.text
    assert [url for url in urls if urlsplit(url).netloc] == []
    assert any(url.endswith("swagger-ui-bundle.js") for url in assets)
    assert {url: response.status_code for url, response in fetched.items()} == dict.fromkeys(
        assets, 200
    )
