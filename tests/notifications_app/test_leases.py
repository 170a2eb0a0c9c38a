"""Deliveries a sender left pending (it crashed, or stopped with a queue) are taken over once
their lease lapses, and never sent by two live senders."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from notifications_app.delivery import Lease, notifications_deliver
from notifications_app.firing import reminders_claim
from notifications_app.leases import CHECK_JOB_PREFIX, notifications_redeliver
from notifications_app.models import Notification, NotificationStatus, ReminderStatus
from tests.notifications_app.conftest import SmtpServer, reminders_of, task_with_reminders
from webapp.events.models import ScheduledJob
from webapp.events.registry import DueJob
from webapp.events.runtimes.inline import InlineRuntime

CREATED = datetime(2031, 9, 1, 8, 0, tzinfo=UTC)
DUE = datetime(2031, 9, 2, 9, 0, tzinfo=UTC)
LEASE = timedelta(seconds=600)
CHECK = LEASE + timedelta(seconds=30)


def _claimed_but_never_sent(owner: User) -> Lease:
    """The claim commits, then its process dies before a sending thread runs."""
    with time_machine.travel(CREATED, tick=False):
        task_with_reminders(
            owner, due_at=DUE, reminders=[{"before": timedelta(0), "channels": ["email"]}]
        )
    job = ScheduledJob.objects.get()
    with time_machine.travel(DUE, tick=False), transaction.atomic():
        ScheduledJob.objects.filter(name=job.name).delete()
        lease = reminders_claim([DueJob(job.name, job.data)])
    assert lease is not None
    return lease


def _email() -> Notification:
    return Notification.objects.get(channel="email")


def test_a_lapsed_lease_is_taken_over_by_its_check_job_and_delivered_once(
    owner: User, smtp_server: SmtpServer, inline_runtime: InlineRuntime
) -> None:
    assert LEASE.total_seconds() == settings.NOTIFICATION_LEASE_SECONDS
    lease = _claimed_but_never_sent(owner)
    assert _email().lease_token == lease.token

    with time_machine.travel(DUE + CHECK - timedelta(seconds=1), tick=False):
        assert inline_runtime.fire_due_jobs() == []
    with time_machine.travel(DUE + CHECK, tick=False):
        assert inline_runtime.fire_due_jobs() == [f"{CHECK_JOB_PREFIX}{lease.token}"]

    email = _email()
    assert (email.status, email.attempts) == (NotificationStatus.SENT, 1)
    assert email.lease_token != lease.token  # a new lease, with a check job of its own
    assert [m["Subject"] for m in smtp_server.messages] == ["Reminder: Submit the tax return"]
    assert reminders_of(email.task)[0].status == ReminderStatus.SENT  # type: ignore[arg-type]
    with time_machine.travel(DUE + 2 * CHECK, tick=False):
        assert inline_runtime.fire_due_jobs() == [f"{CHECK_JOB_PREFIX}{email.lease_token}"]
    assert len(smtp_server.messages) == 1


def test_a_lease_its_sender_keeps_renewing_is_checked_again_not_taken(
    owner: User, inline_runtime: InlineRuntime
) -> None:
    lease = _claimed_but_never_sent(owner)
    # The sender is alive, retrying a dead SMTP server; each round renews its lease.
    with time_machine.travel(DUE + timedelta(minutes=9), tick=False):
        Notification.objects.filter(pk=_email().pk).update(lease_until=DUE + timedelta(minutes=19))

    with time_machine.travel(DUE + CHECK, tick=False):
        assert inline_runtime.fire_due_jobs() == [f"{CHECK_JOB_PREFIX}{lease.token}"]

    email = _email()
    assert (email.status, email.attempts, email.lease_token) == ("pending", 0, lease.token)
    check = ScheduledJob.objects.get()
    assert (check.name, check.due_at) == (
        f"{CHECK_JOB_PREFIX}{lease.token}",
        DUE + timedelta(minutes=19, seconds=30),
    )


def test_a_sender_that_stalled_past_its_lease_leaves_the_rows_to_the_one_that_took_them(
    owner: User, smtp_server: SmtpServer, inline_runtime: InlineRuntime
) -> None:
    stalled = _claimed_but_never_sent(owner)
    with time_machine.travel(DUE + CHECK, tick=False):
        inline_runtime.fire_due_jobs()  # taken over and delivered
    assert len(smtp_server.messages) == 1

    with time_machine.travel(DUE + CHECK + timedelta(minutes=1), tick=False):
        notifications_deliver(stalled)  # the old sender wakes up

    assert len(smtp_server.messages) == 1
    assert _email().attempts == 1


def test_redeliver_sends_rows_whose_lease_lapsed_and_leaves_live_ones_alone(
    owner: User, smtp_server: SmtpServer, inline_runtime: InlineRuntime
) -> None:
    _claimed_but_never_sent(owner)

    with time_machine.travel(DUE + timedelta(minutes=5), tick=False):
        assert notifications_redeliver(older_than_seconds=60) == 0  # its lease still runs
    with time_machine.travel(DUE + LEASE + timedelta(seconds=1), tick=False):
        assert notifications_redeliver(older_than_seconds=60) == 1

    assert _email().status == NotificationStatus.SENT
    assert len(smtp_server.messages) == 1
