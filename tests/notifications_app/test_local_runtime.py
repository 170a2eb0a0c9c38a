"""Under the local runtime of the embedded shape: the job timer hands due reminders to threads.

Real threads make a short bounded wait unavoidable; it polls and gives up after a timeout.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import connections
from django.utils import timezone

from notifications_app.delivery import stop_threads
from notifications_app.models import Notification, Reminder, ReminderStatus
from tests.notifications_app.conftest import SmtpServer, task_with_reminders
from webapp.events.runtime import set_runtime
from webapp.events.runtimes.local import LocalRuntime


def wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


@pytest.fixture
def local_runtime() -> Iterator[LocalRuntime]:
    runtime = LocalRuntime(workers=1, relay_tick_seconds=0.5, timer_tick_seconds=0.5)
    set_runtime(runtime)
    yield runtime
    runtime.stop()
    stop_threads()
    gc.collect()  # the ended threads' database connections close with them
    connections.close_all()


def test_a_due_reminder_is_claimed_and_emailed_by_the_delivery_threads(
    owner: User, smtp_server: SmtpServer, local_runtime: LocalRuntime
) -> None:
    local_runtime.start()
    task = task_with_reminders(
        owner,
        due_at=timezone.now() + timedelta(hours=1),
        reminders=[{"at": timezone.now() + timedelta(seconds=1), "channels": ["email", "in_app"]}],
    )

    wait_until(lambda: Reminder.objects.filter(task=task, status=ReminderStatus.SENT).exists())

    assert len(smtp_server.messages) == 1
    assert sorted(Notification.objects.filter(task=task).values_list("channel", "status")) == [
        ("email", "sent"),
        ("in_app", "sent"),
    ]
