"""kill -9 of the server in the middle of a burst of creates, then a restart on the same data.

GIVEN `manage.py serve` taking concurrent creates (each task with a reminder, so a consumer has
work to do for every event), WHEN its process group is killed outright (PostgreSQL surviving
as an orphan, or killed too as in a power cut) and serve starts again on the same VAR_DIR,
THEN every create a client saw acknowledged exists, every task has exactly one created event,
the consumers caught up on all of them, and nothing is left in flight.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.faults.conftest import (
    Burst,
    Platform,
    created_events_by_task,
    eventually,
    register,
    settled,
    task_ids,
)

DUE = "2031-06-01T09:00:00Z"


def _task_with_reminder(n: int) -> dict[str, Any]:
    return {"title": f"burst {n}", "due_at": DUE, "reminders": [{"before": "PT1H"}]}


@pytest.mark.slow
def test_after_kill_9_mid_burst_every_acknowledged_create_exists_with_exactly_one_event(
    platform: Callable[..., Platform],
) -> None:
    server = platform()
    base = server.start()
    account = register(base, "kim")
    acknowledged: set[str] = set()

    # First PostgreSQL outlives serve (the next serve takes it over), then it dies with it.
    for postgres_killed in (False, True):
        burst = _burst_then_kill(server, account.token, postgres_killed=postgres_killed)
        assert set(burst.statuses) <= {201, 0}, (burst.statuses, burst.refusals[:3])
        acknowledged.update(burst.acknowledged)

        server.start()
        eventually(lambda: settled(server), timeout=60, what="the runtime catching up")
        _assert_nothing_lost_or_doubled(server, account.user_id, acknowledged)

    assert server.stop() == 0, server.log_tail()


def _burst_then_kill(server: Platform, token: str, *, postgres_killed: bool) -> Burst:
    burst = Burst(server.base, token, threads=8, body=_task_with_reminder)
    burst.start()
    try:
        eventually(lambda: burst.answered(201) >= 40, timeout=30, what="40 creates")
        server.kill()
        if postgres_killed:
            server.kill_postgres()
    finally:
        burst.stop()
    return burst


def _assert_nothing_lost_or_doubled(server: Platform, user_id: int, acknowledged: set[str]) -> None:
    with server.connect() as conn:
        stored = task_ids(conn, user_id)
        events = created_events_by_task(conn, user_id)
        jobs = {
            str(task_id)
            for (task_id,) in conn.execute(
                "SELECT r.task_id FROM notifications_app_reminder r"
                " JOIN events_scheduledjob j ON j.name = 'reminder-' || r.id::text"
            ).fetchall()
        }
    missing = acknowledged - stored
    assert not missing, f"{len(missing)} acknowledged creates were lost"
    # Creates cut off by the kill may have committed without an answer; they count too.
    assert set(events) == stored
    assert [task for task, count in events.items() if count != 1] == []
    # The notifications consumer handled every created event: each reminder has its job.
    assert jobs == stored, f"{len(stored - jobs)} tasks have no reminder job"
