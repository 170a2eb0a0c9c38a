"""A request the database cannot take is a 503 to retry; every request is one log line."""

from __future__ import annotations

import json
import logging

import pytest
from django.db import OperationalError, ProgrammingError
from django.http import HttpResponse
from django.test import Client, RequestFactory
from psycopg_pool import PoolTimeout

from webapp.middleware import DatabaseUnavailableMiddleware


def _middleware() -> DatabaseUnavailableMiddleware:
    return DatabaseUnavailableMiddleware(lambda request: HttpResponse())


def test_a_pool_timeout_is_a_503_with_retry_after() -> None:
    request = RequestFactory().get("/api/v1/tasks/")
    error = OperationalError("couldn't get a connection after 5.00 sec")
    error.__cause__ = PoolTimeout("couldn't get a connection after 5.00 sec")

    response = _middleware().process_exception(request, error)

    assert response is not None and response.status_code == 503
    assert response["Retry-After"] == "1"
    assert "retry" in json.loads(response.content)["detail"]


def test_other_database_errors_are_left_to_the_500_handler() -> None:
    request = RequestFactory().get("/api/v1/tasks/")

    assert _middleware().process_exception(request, ProgrammingError("bad SQL")) is None
    assert _middleware().process_exception(request, ValueError("bug")) is None


def test_each_request_is_one_access_line_with_its_id_status_and_time(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="webapp.access"):
        response = client.get("/healthz", HTTP_X_REQUEST_ID="req-42")

    (line,) = [record for record in caplog.records if record.name == "webapp.access"]
    assert response["X-Request-ID"] == "req-42"
    assert line.getMessage() == "request"
    assert line.__dict__["method"] == "GET" and line.__dict__["path"] == "/healthz"
    assert line.__dict__["status"] == 200 and line.__dict__["duration_ms"] >= 0
