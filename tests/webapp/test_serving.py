"""The web server as `make run` starts it: bounded connections, 503 when they run out.

Real processes: `manage.py serve` (its own embedded PostgreSQL, the event runtime, web workers)
driven over HTTP. Waits poll a child process and are bounded.
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest

from tests.webapp.test_serve import ROOT, serving

POOL_MAX = 2
WORKERS = 1


@dataclass
class Served:
    base: str
    conninfo: str
    token: str


def call(
    url: str, *, method: str = "GET", body: Any = None, token: str | None = None
) -> tuple[int, dict[str, str], Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (local URL)
            return response.status, _lower(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, _lower(error.headers), json.loads(error.read() or b"null")


def _lower(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("serving")
    with serving(
        workdir,
        WEB_CONCURRENCY=str(WORKERS),
        WEB_THREADS="8",  # more request threads than pooled connections
        DATABASE_POOL_MAX_SIZE=str(POOL_MAX),
        DATABASE_POOL_TIMEOUT="0.5",
        API_THROTTLE_USER="100000/minute",
        API_THROTTLE_AUTH="100000/minute",
    ) as base:
        account = {"username": "pia", "password": "a-long-passphrase"}
        call(f"{base}/api/v1/auth/register/", method="POST", body={**account, "email": "p@x.io"})
        _, _, pair = call(f"{base}/api/v1/auth/token/", method="POST", body=account)
        socket_dir = workdir / "var" / "pgdata"
        yield Served(base, f"host={socket_dir} user=postgres dbname=todo", pair["access"])


def web_connections(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(
        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'todo-web'"
    ).fetchone()
    return int(row[0]) if row else 0


@pytest.mark.slow
def test_more_requests_than_the_pool_holds_get_2xx_or_503_and_connections_stay_bounded(
    served: Served,
) -> None:
    results: list[tuple[int, dict[str, str], Any]] = []
    lock = threading.Lock()

    def list_tasks() -> None:
        outcome = call(f"{served.base}/api/v1/tasks/", token=served.token)
        with lock:
            results.append(outcome)

    most = 0
    with psycopg.connect(served.conninfo, autocommit=True) as admin:
        # Requests that get a connection wait on this lock and keep it; the others queue for
        # the pool until its timeout.
        admin.execute("BEGIN")
        admin.execute("LOCK TABLE tasks_app_task IN ACCESS EXCLUSIVE MODE")
        threads = [threading.Thread(target=list_tasks) for _ in range(32)]
        for thread in threads:
            thread.start()
        with psycopg.connect(served.conninfo, autocommit=True) as watcher:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                most = max(most, web_connections(watcher))
                time.sleep(0.05)  # sampling a child process, not test logic
        admin.execute("COMMIT")
        for thread in threads:
            thread.join(30)

    statuses = sorted(status for status, _, _ in results)
    assert len(results) == 32 and set(statuses) <= {200, 503}, statuses
    refused = [(headers, body) for status, headers, body in results if status == 503]
    assert refused, "every request got a connection: the pool did not run out"
    assert 200 in statuses, "the requests holding the pooled connections did not finish"
    assert all(headers.get("retry-after") == "1" for headers, _ in refused), refused[:2]
    assert all("retry" in body["detail"] for _, body in refused)
    assert 0 < most <= WORKERS * POOL_MAX

    # Nothing is left broken: the next request is served.
    assert call(f"{served.base}/readyz")[0] == 200
    assert call(f"{served.base}/api/v1/tasks/", token=served.token)[0] == 200


@pytest.mark.slow
def test_an_event_written_by_a_web_worker_is_relayed_by_the_runtime_process_at_once(
    served: Served,
) -> None:
    status, _, task = call(
        f"{served.base}/api/v1/tasks/", method="POST", body={"title": "Wake"}, token=served.token
    )
    assert status == 201

    # The relay ticks every 5 s: within 2 s only the web worker's wake-up can have moved it.
    deadline = time.monotonic() + 2
    published = False
    with psycopg.connect(served.conninfo, autocommit=True) as conn:
        while not published and time.monotonic() < deadline:
            row = conn.execute(
                "SELECT published_at IS NOT NULL FROM events_outboxevent WHERE subject = %s",
                [f"tasks/{task['id']}"],
            ).fetchone()
            published = bool(row and row[0])
            time.sleep(0.05)  # polling a child process
    assert published


@pytest.mark.slow
def test_metrics_are_summed_over_the_worker_processes(served: Served) -> None:
    for _ in range(3):
        call(f"{served.base}/healthz")

    with urllib.request.urlopen(f"{served.base}/metrics", timeout=10) as response:  # noqa: S310
        text = response.read().decode()

    assert 'django_http_requests_total_by_method_total{method="GET"}' in text
    assert "todo_outbox_pending_events" in text


@pytest.mark.slow
def test_bodies_and_streamed_files_cross_the_wsgi_bridge_whole(served: Served) -> None:
    """POST bodies reach Django, an oversized one gets the API's 413, a static file (a
    streaming answer) arrives byte for byte."""
    status, _, created = call(
        f"{served.base}/api/v1/tasks/", method="POST", body={"title": "é" * 200}, token=served.token
    )
    assert status == 201 and created["title"] == "é" * 200

    limit = 2_621_440  # Django's DATA_UPLOAD_MAX_MEMORY_SIZE
    status, _, refused = call(
        f"{served.base}/api/v1/tasks/",
        method="POST",
        body={"title": "x", "description": "y" * limit},
        token=served.token,
    )
    assert status == 413 and refused["detail"] == f"Request body is larger than {limit} bytes."

    static = ROOT / "dashboard_app" / "static" / "dashboard_app" / "htmx.min.js"
    with urllib.request.urlopen(f"{served.base}/static/dashboard_app/htmx.min.js") as answer:  # noqa: S310
        assert answer.status == 200
        assert answer.read() == static.read_bytes()
