"""Every answer under /api/ is JSON `{"detail": ...}`, even when Django rather than DRF answers;
other paths (admin) keep Django's HTML pages."""

from __future__ import annotations

import json
from typing import Any, NoReturn

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.test import Client, RequestFactory
from rest_framework.test import APIClient

from planning.views import TaskViewSet
from tests.conftest import create_task
from webapp.api import fallback

JSON = "application/json"


def assert_detail(response: Any, status: int) -> str:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == JSON
    body = json.loads(response.content)
    assert list(body) == ["detail"] and isinstance(body["detail"], str)
    detail: str = body["detail"]
    return detail


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/tasks/%C2%84/"),
        ("get", "/api/v1/reminders/not-a-uuid/"),
        ("get", "/api/v1/series/xyz/"),
        ("delete", "/api/v1/devices/xyz/"),
        ("delete", "/api/v1/auth/api-tokens/xyz/"),
        ("get", "/api/v1/conversations/%C2%84/"),
        ("post", "/api/v1/tasks/xyz/complete/"),
        ("post", "/api/v1/tasks/xyz/reopen/"),
        ("get", "/api/v1/series/xyz/occurrences/"),
        ("get", "/api/v1/tasks/00000000-0000-0000-0000-000000000000/reminders/x/"),
    ],
)
def test_a_malformed_id_in_the_path_is_a_json_404(api: APIClient, method: str, path: str) -> None:
    assert_detail(getattr(api, method)(path), 404)


def test_a_path_no_route_matches_is_drfs_not_found_body(api: APIClient, anon: APIClient) -> None:
    assert assert_detail(api.get("/api/v1/nothing-here/"), 404) == "Not found."
    assert assert_detail(anon.post("/api/nothing-here/", {}, format="json"), 404) == "Not found."


def test_a_404_outside_the_api_stays_an_html_page(staff: Client, anon: APIClient) -> None:
    for response in (staff.get("/admin/nothing-here/"), anon.get("/nothing-here/")):
        assert response.status_code == 404
        assert response["Content-Type"].startswith("text/html")


def test_a_method_a_route_does_not_take_is_a_json_405_with_allow(api: APIClient) -> None:
    task = create_task(api)
    detail_path = f"/api/v1/tasks/{task['id']}/"

    put = api.put(detail_path, {"title": "New"}, format="json")
    unknown = api.generic("BREW", "/api/v1/tasks/")

    assert assert_detail(put, 405) == 'Method "PUT" not allowed.'
    assert set(put["Allow"].split(", ")) == {"GET", "PATCH", "DELETE", "HEAD", "OPTIONS"}
    assert_detail(unknown, 405)
    assert set(unknown["Allow"].split(", ")) == {"GET", "POST", "HEAD", "OPTIONS"}
    assert_detail(api.get(f"{detail_path}complete/"), 405)


def test_a_body_over_the_upload_limit_is_a_json_413(api: APIClient) -> None:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    assert limit is not None
    body = json.dumps({"title": "x" * limit})

    created = api.post("/api/v1/tasks/", body, content_type=JSON)
    task = create_task(api)
    patched = api.patch(f"/api/v1/tasks/{task['id']}/", body, content_type=JSON)

    assert assert_detail(created, 413) == f"Request body is larger than {limit} bytes."
    assert_detail(patched, 413)
    assert api.get(f"/api/v1/tasks/{task['id']}/").json()["title"] == task["title"]


def test_other_suspicious_requests_are_a_json_400(api: APIClient) -> None:
    # More query parameters than DATA_UPLOAD_MAX_NUMBER_FIELDS: Django's TooManyFieldsSent.
    too_many = "&".join(f"f{i}=1" for i in range(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS + 1))

    assert assert_detail(api.get(f"/api/v1/tasks/?{too_many}"), 400) == "Bad request."


def test_an_unsupported_content_type_is_a_json_415(api: APIClient) -> None:
    response = api.post(
        "/api/v1/tasks/", "title=A", content_type="application/x-www-form-urlencoded"
    )

    assert "application/x-www-form-urlencoded" in assert_detail(response, 415)


def test_an_uncaught_error_in_the_api_is_a_json_500(
    api: APIClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> NoReturn:
        raise RuntimeError("bug")

    monkeypatch.setattr(TaskViewSet, "list", broken)
    api.raise_request_exception = False

    assert assert_detail(api.get("/api/v1/tasks/"), 500) == "Server error."


def test_errors_outside_the_api_keep_djangos_html_pages() -> None:
    request = RequestFactory().get("/admin/tasks_app/task/")

    responses = [
        fallback.server_error(request),
        fallback.bad_request(request, SuspiciousOperation()),
        fallback.permission_denied(request, PermissionDenied()),
    ]

    assert [response.status_code for response in responses] == [500, 400, 403]
    assert all(response["Content-Type"].startswith("text/html") for response in responses)


def test_a_permission_denied_django_raises_under_the_api_is_a_json_403() -> None:
    request = RequestFactory().get("/api/v1/tasks/")

    assert_detail(fallback.permission_denied(request, PermissionDenied()), 403)
