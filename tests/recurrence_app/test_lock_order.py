"""One lock order, a series before its tasks: deleting an instance while its series is edited
waits instead of deadlocking.

The inverted pair is run for real, on two connections from two threads, with the order forced:
a third connection holds the series lock while the series edit queues for it and then the
instance delete arrives. Had the delete locked its task before the series, the edit would
take the series on release and wait for that task, while the delete waited for the series:
PostgreSQL would break the deadlock by failing one of them (an error answer, not 2xx).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import time_machine
from django.contrib.auth.models import User
from django.db import connection, connections, transaction
from rest_framework.test import APIClient

from recurrence_app.models import RecurringSeries
from tasks_app.models import Task
from tests.recurrence_app.conftest import create_recurring

DUE = datetime(2030, 3, 4, 9, tzinfo=UTC)


class Worker(threading.Thread):
    """Runs `work` on its own database connection; keeps its backend pid and its outcome."""

    def __init__(self, work: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.work = work
        self.pid: int | None = None
        self.started_work = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_backend_pid()")
                self.pid = cursor.fetchone()[0]
            self.started_work.set()
            self.result = self.work()
        except BaseException as exc:
            self.error = exc
        finally:
            self.started_work.set()
            connections.close_all()


def wait_for_lock_wait(worker: Worker, timeout: float = 10.0) -> None:
    """Until `worker`'s connection is waiting for a row lock held by another."""
    assert worker.started_work.wait(timeout)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [worker.pid]
            )
            row = cursor.fetchone()
        if row is not None and row[0] == "Lock":
            return
        assert worker.error is None, worker.error
        time.sleep(0.02)
    raise AssertionError("the worker never waited for the lock")


def client_for(user: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_deleting_an_instance_while_its_series_is_edited_does_not_deadlock(owner: User) -> None:
    with time_machine.travel(datetime(2030, 3, 1, tzinfo=UTC), tick=False):
        first = create_recurring(
            client_for(owner), title="Standup", due_at=DUE.isoformat(), rule="FREQ=DAILY"
        )
    locked, release = threading.Event(), threading.Event()

    def hold_series_lock() -> None:
        with transaction.atomic():
            RecurringSeries.objects.select_for_update().get(pk=first["series"])
            locked.set()
            release.wait(10)

    def edit_series() -> Any:
        return client_for(owner).patch(
            f"/api/v1/series/{first['series']}/", {"title": "Daily standup"}, format="json"
        )

    def delete_instance() -> Any:
        return client_for(owner).delete(f"/api/v1/tasks/{first['id']}/")

    holder, editor, deleter = Worker(hold_series_lock), Worker(edit_series), Worker(delete_instance)
    holder.start()
    assert locked.wait(10)
    editor.start()
    wait_for_lock_wait(editor)  # the edit queues for the series
    deleter.start()
    wait_for_lock_wait(deleter)  # the delete queues too: for the series, not on its task
    release.set()
    for worker in (holder, editor, deleter):
        worker.join(30)
        assert not worker.is_alive()
        assert worker.error is None, worker.error

    assert editor.result.status_code == 200, editor.result.content
    assert deleter.result.status_code == 204, deleter.result.content
    assert not Task.objects.filter(pk=first["id"]).exists()
    series = RecurringSeries.objects.get(pk=first["series"])
    assert series.title == "Daily standup"
    assert series.excluded == [DUE]
