"""Operator commands of the notifications app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import time_machine
from django.contrib.auth.models import User
from django.core.management import call_command

from notifications_app.models import Notification, NotificationStatus, ReminderStatus
from tasks_app.services import task_complete
from tests.notifications_app.conftest import reminders_of, task_with_reminders
from webapp.events.models import ScheduledJob

CREATED = datetime(2031, 2, 1, 8, 0, tzinfo=UTC)
DUE = datetime(2031, 2, 3, 8, 0, tzinfo=UTC)


def test_reschedule_reminder_jobs_restores_lost_jobs_of_waiting_reminders_only(
    owner: User,
) -> None:
    with time_machine.travel(CREATED, tick=False):
        waiting = task_with_reminders(
            owner, due_at=DUE, reminders=[{"before": timedelta(hours=1), "channels": ["in_app"]}]
        )
        done = task_with_reminders(
            owner, due_at=DUE, reminders=[{"before": timedelta(hours=2), "channels": ["in_app"]}]
        )
        task_complete(task=done)
        ScheduledJob.objects.all().delete()  # the scheduler lost its state

        out = StringIO()
        call_command("reschedule_reminder_jobs", stdout=out)
        call_command("reschedule_reminder_jobs", stdout=StringIO())

    [reminder] = reminders_of(waiting)
    assert dict(ScheduledJob.objects.values_list("name", "due_at")) == {
        f"reminder-{reminder.pk}": DUE - timedelta(hours=1)
    }
    assert "Scheduled 1 reminder job(s)" in out.getvalue()


def test_reschedule_reminder_jobs_delivers_notifications_a_stopped_worker_left_pending(
    owner: User,
) -> None:
    with time_machine.travel(CREATED, tick=False):
        task = task_with_reminders(
            owner, due_at=DUE, reminders=[{"before": timedelta(0), "channels": ["in_app"]}]
        )
        [reminder] = reminders_of(task)
        reminder.fired_at = CREATED
        reminder.save(update_fields=["fired_at"])
        row = Notification.objects.create(
            user=owner, reminder=reminder, task=task, channel="in_app", title="Reminder: x"
        )
    with time_machine.travel(CREATED + timedelta(hours=1), tick=False):
        out = StringIO()
        call_command("reschedule_reminder_jobs", stdout=out)

    row.refresh_from_db()
    assert row.status == NotificationStatus.SENT
    assert reminders_of(task)[0].status == ReminderStatus.SENT
    assert "redelivered 1 notification(s)" in out.getvalue()
