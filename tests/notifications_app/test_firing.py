"""Reminder jobs falling due together are claimed together, each with its own outcome."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from notifications_app.firing import reminders_claim
from notifications_app.leases import CHECK_JOB_PREFIX
from notifications_app.models import (
    Notification,
    NotificationSettings,
    Reminder,
    ReminderStatus,
)
from tests.conftest import make_user
from tests.notifications_app.conftest import SmtpServer, reminders_of, task_with_reminders
from webapp.events.models import OutboxEvent, ScheduledJob
from webapp.events.registry import DueJob
from webapp.events.runtimes.inline import InlineRuntime

CREATED = datetime(2031, 6, 1, 8, 0, tzinfo=UTC)
DUE = datetime(2031, 6, 3, 12, 0, tzinfo=UTC)
AT_DUE = [{"before": timedelta(0), "channels": ["email", "in_app"]}]


def test_one_firing_settles_a_mixed_batch_each_reminder_by_its_own_state(
    owner: User, smtp_server: SmtpServer, inline_runtime: InlineRuntime
) -> None:
    quiet = make_user("quinn")
    NotificationSettings.objects.create(user=quiet, email=False, in_app=False, push=False)
    with time_machine.travel(CREATED, tick=False):
        emailed = task_with_reminders(owner, due_at=DUE, reminders=AT_DUE, title="Emailed")
        feed_only = task_with_reminders(
            owner,
            due_at=DUE,
            title="Feed only",
            reminders=[{"before": timedelta(0), "channels": ["in_app"]}],
        )
        finished = task_with_reminders(owner, due_at=DUE, reminders=AT_DUE, title="Finished")
        muted = task_with_reminders(quiet, due_at=DUE, reminders=AT_DUE, title="Muted")
    # Finished without its event reaching the worker yet: the claim itself must notice.
    finished.status, finished.completed_at = "completed", CREATED
    finished.save(update_fields=["status", "completed_at"])

    with time_machine.travel(DUE, tick=False):
        assert len(inline_runtime.fire_due_jobs()) == 4

    statuses = {
        task.title: reminders_of(task)[0].status for task in (emailed, feed_only, finished, muted)
    }
    assert statuses == {
        "Emailed": ReminderStatus.SENT,
        "Feed only": ReminderStatus.SENT,
        "Finished": ReminderStatus.SKIPPED,
        "Muted": ReminderStatus.SKIPPED,  # every channel it asked for is turned off
    }
    delivered = sorted(
        Notification.objects.values_list("task__title", "channel", "status"),
    )
    assert delivered == [
        ("Emailed", "email", "sent"),
        ("Emailed", "in_app", "sent"),
        ("Feed only", "in_app", "sent"),
    ]
    assert [m["Subject"] for m in smtp_server.messages] == ["Reminder: Emailed"]
    fired = OutboxEvent.objects.filter(type="todo.reminder.fired.v1")
    assert sorted(event.envelope["data"]["task"]["id"] for event in fired) == sorted(
        str(task.pk) for task in (emailed, feed_only, muted)
    )
    assert OutboxEvent.objects.filter(type="todo.notification.sent.v1").count() == 3
    # What is left is the check of the email's lease, for when it would lapse.
    email = Notification.objects.get(channel="email")
    assert email.lease_until == DUE + timedelta(seconds=settings.NOTIFICATION_LEASE_SECONDS)
    assert list(ScheduledJob.objects.values_list("name", flat=True)) == [
        f"{CHECK_JOB_PREFIX}{email.lease_token}"
    ]


def test_a_job_from_an_older_fire_time_is_ignored_while_the_rest_of_its_batch_fires(
    owner: User, inline_runtime: InlineRuntime
) -> None:
    with time_machine.travel(CREATED, tick=False):
        kept = task_with_reminders(owner, due_at=DUE, reminders=AT_DUE, title="Kept")
        moved = task_with_reminders(owner, due_at=DUE, reminders=AT_DUE, title="Moved")
    stale = {job.name: job.data for job in ScheduledJob.objects.all()}
    # The due date moved after the job was read: its data still names the old fire time.
    Reminder.objects.filter(task=moved).update(fire_at=DUE + timedelta(days=1))

    with time_machine.travel(DUE, tick=False), transaction.atomic():
        lease = reminders_claim([DueJob(name, data) for name, data in stale.items()])

    assert lease is not None
    [claim] = lease.claims
    assert claim.reminder_id == str(reminders_of(kept)[0].pk)
    assert reminders_of(moved)[0].fired_at is None
    assert reminders_of(kept)[0].fired_at == DUE


def test_claiming_fifty_reminders_takes_no_more_statements_than_claiming_five(
    owner: User, inline_runtime: InlineRuntime
) -> None:
    with time_machine.travel(CREATED, tick=False):
        for n in range(55):
            task_with_reminders(owner, due_at=DUE, reminders=AT_DUE, title=f"Task {n}")
    due = [DueJob(job.name, job.data) for job in ScheduledJob.objects.order_by("name")]

    counts = []
    for batch in (due[:5], due[5:]):
        with (
            time_machine.travel(DUE, tick=False),
            transaction.atomic(),
            CaptureQueriesContext(connection) as queries,
        ):
            lease = reminders_claim(batch)
            assert lease is not None
            assert len(lease.claims) == len(batch)
        counts.append(len(queries))

    assert counts[0] == counts[1]
    assert Notification.objects.count() == 2 * 55
