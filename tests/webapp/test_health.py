"""Liveness, readiness (database, migrations) and the Prometheus endpoint."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder
from django.test import Client

from webapp import health


@pytest.fixture(autouse=True)
def _forget_migration_state() -> Iterator[None]:
    health.reset_migration_cache()
    yield
    health.reset_migration_cache()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens once the socket is closed


def unreachable_connection() -> object:
    settings = {**connection.settings_dict, "HOST": "127.0.0.1", "PORT": str(closed_port())}
    settings["OPTIONS"] = {**settings["OPTIONS"], "connect_timeout": 2}
    return connection.__class__(settings, alias="unreachable")


def test_healthz_answers_ok(client: Client) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_readyz_is_ok_when_database_and_migrations_are_ready(client: Client) -> None:
    response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "events": "ok"}}


def test_connection_problem_names_an_unreachable_database() -> None:
    problem = health.connection_problem(unreachable_connection())  # type: ignore[arg-type]

    assert problem is not None and problem.startswith("database unreachable: ")
    assert health.connection_problem(connection) is None


def test_readyz_is_503_when_the_database_is_unreachable(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(health, "database_connection", unreachable_connection)

    response = client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("database unreachable")


def test_readyz_is_503_while_a_migration_is_pending(client: Client) -> None:
    recorder = MigrationRecorder(connection)
    latest = recorder.migration_qs.filter(app="tasks_app").order_by("-name").first()
    assert latest is not None
    latest.delete()  # the database now says this migration never ran
    try:
        response = client.get("/readyz")
    finally:
        recorder.record_applied(latest.app, latest.name)

    assert response.status_code == 503
    assert f"tasks_app.{latest.name}" in response.json()["checks"]["database"]
    assert client.get("/readyz").status_code == 200


def test_readyz_only_reloads_migrations_until_they_are_all_applied(client: Client) -> None:
    assert client.get("/readyz").status_code == 200
    recorder = MigrationRecorder(connection)
    latest = recorder.migration_qs.filter(app="tasks_app").order_by("-name").first()
    assert latest is not None
    latest.delete()
    try:
        # Applied migrations do not un-apply in a running process: the cached answer stands.
        assert client.get("/readyz").status_code == 200
    finally:
        recorder.record_applied(latest.app, latest.name)


def test_metrics_serve_prometheus_text(client: Client) -> None:
    client.get("/healthz")

    response = client.get("/metrics")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    text = response.content.decode()
    assert "# TYPE django_http_requests_total_by_method_total counter" in text
    assert 'django_http_requests_total_by_method_total{method="GET"}' in text
