"""Under the local runtime of the embedded shape: the job timer hands due reminders to threads.

Real threads make a short bounded wait unavoidable; it polls and gives up after a timeout.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connections
from django.utils import timezone

from notifications_app.delivery import stop_threads
from notifications_app.models import Notification, Reminder, ReminderStatus
from tests.conftest import wait_until
from tests.notifications_app.conftest import SmtpServer, task_with_reminders
from webapp.events.runtime import set_runtime
from webapp.events.runtimes.local import LocalRuntime


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


def test_a_burst_due_in_the_same_second_is_delivered_once_each(
    owner: User, smtp_server: SmtpServer, local_runtime: LocalRuntime
) -> None:
    fire_at = timezone.now() + timedelta(seconds=2)
    tasks = [
        task_with_reminders(
            owner,
            due_at=fire_at + timedelta(hours=1),
            title=f"Burst {n}",
            reminders=[{"at": fire_at, "channels": ["email", "in_app"]}],
        )
        for n in range(40)
    ]
    local_runtime.start()

    wait_until(lambda: Reminder.objects.filter(status=ReminderStatus.SENT).count() == 40)

    subjects = sorted(m["Subject"] for m in smtp_server.messages)
    assert subjects == sorted(f"Reminder: {task.title}" for task in tasks)
    assert Notification.objects.filter(status="sent").count() == 80
    # Each sending thread keeps its session open: at most one session per thread.
    assert smtp_server.inbox.sessions <= settings.NOTIFICATION_DELIVERY_THREADS
