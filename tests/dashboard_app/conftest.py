"""Real-browser fixtures: headless Chromium (Debian's `chromium` and `chromium-driver`, installed
by `make browser`) driven by Selenium against a real `manage.py serve`.

Missing browser: skipped locally, a failure under CI=true. When a browser test fails, every
page it had open is saved (PNG and HTML) under $TEST_OUTPUT_DIR/browser/<test>/ (default
var/test-output).
"""

from __future__ import annotations

import os
import re
import shutil
import urllib.request
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.webapp.test_serve import ROOT, serving

CHROMIUM = os.environ.get("CHROMIUM_BINARY", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver")
DESKTOP = (1280, 900)
PHONE = (390, 844)


def output_dir() -> Path:
    return Path(os.environ.get("TEST_OUTPUT_DIR") or ROOT / "var" / "test-output") / "browser"


def require_browser() -> None:
    """Skip (or under CI fail) when the browser is not installed."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if shutil.which(p) is None]
    if not missing:
        return
    message = f"{', '.join(missing)} not installed: run `make browser` (needs root and apt-get)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(message)
    pytest.skip(message)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


FAILED = pytest.StashKey[bool]()


@dataclass
class Browsers:
    """Opens browsers on the server; remembers them to screenshot and close them."""

    base: str
    opened: list[Any] = field(default_factory=list)

    def open(self, size: tuple[int, int] = DESKTOP) -> Any:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
        for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         f"--window-size={size[0]},{size[1]}", "--lang=en-US"):  # fmt: skip
            options.add_argument(argument)
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
        driver.implicitly_wait(0)
        self.opened.append(driver)
        return driver

    def save_all(self, name: str) -> Path:
        target = output_dir() / re.sub(r"[^\w.-]+", "_", name)
        target.mkdir(parents=True, exist_ok=True)
        for number, driver in enumerate(self.opened, start=1):
            try:
                driver.save_screenshot(str(target / f"browser{number}.png"))
                (target / f"browser{number}.html").write_text(driver.page_source)
                console = "\n".join(entry["message"] for entry in driver.get_log("browser"))
                (target / f"browser{number}.console.txt").write_text(console)
            except Exception as exc:
                (target / f"browser{number}.error.txt").write_text(repr(exc))
        return target

    def close(self) -> None:
        for driver in self.opened:
            driver.quit()
        self.opened.clear()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`manage.py serve` with its own PostgreSQL, event runtime, workers and event stream."""
    require_browser()
    with serving(
        tmp_path_factory.mktemp("dashboard"),
        WEB_CONCURRENCY="2",
        API_THROTTLE_USER="100000/minute",
        API_THROTTLE_AUTH="100000/minute",
    ) as base:
        yield base


@pytest.fixture
def browsers(server: str, request: pytest.FixtureRequest) -> Iterator[Browsers]:
    opened = Browsers(server)
    try:
        yield opened
    finally:
        if request.node.stash.get(FAILED, False):
            where = opened.save_all(request.node.name)
            print(f"\nbrowser screenshots: {where}")  # noqa: T201 - points the reader at them
        opened.close()


def register_user(base: str, username: str) -> str:
    """A user made through the API (the page-level registration has a test of its own)."""
    password = "a-long-passphrase-42"
    body = (
        f'{{"username": "{username}", "email": "{username}@example.com", "password": "{password}"}}'
    ).encode()
    request = urllib.request.Request(  # noqa: S310 - the local test server
        f"{base}/api/v1/auth/register/",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
        assert response.status == 201
    return password
