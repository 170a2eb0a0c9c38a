"""Firing reminders: the `reminder-<id>` jobs claim their reminders and write what to deliver.

One claim handles any number of due jobs with a fixed handful of statements (the local
runtime's timer passes a whole burst at once, a Dapr job call passes one) and runs in the
job's own transaction, so the job's removal and the claim commit together:

- the reminders are locked and claimed by setting `fired_at`; one already claimed (a
  repeated trigger), moved to another time (a job left from an older due date) or gone with
  its task is ignored, so a reminder is claimed at most once per fire time;
- a completed task's reminder is `skipped`;
- otherwise one `Notification` per enabled channel is written with the fired event. In-app
  entries need nothing more and are delivered right here (the feed row and its sent event
  commit with the claim); email and push get a lease (see `leases`) and are handed to
  `delivery` after commit, because they wait on SMTP and FCM.

A task change consumed at the very moment its reminder fires waits for the claim's locks. In
the rare crossing where each holds a row the other needs, PostgreSQL's deadlock detector ends
one of them and that one is retried (the event by the consumer guard, the jobs one by one
by the runtime), so nothing is lost or sent twice.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from notifications_app import metrics
from notifications_app.channels.email import email_configured
from notifications_app.channels.in_app import in_app_body
from notifications_app.delivery import Claimed, Lease, hand_over, outcome_events
from notifications_app.leases import lease_new
from notifications_app.models import (
    Channel,
    Notification,
    NotificationSettings,
    NotificationStatus,
    Reminder,
    ReminderStatus,
)
from notifications_app.scheduling import reminder_jobs_done
from notifications_app.selectors import notification_settings_by_user
from tasks_app.models import Status, Task
from webapp.events import topics
from webapp.events.outbox import Event, emit_many
from webapp.events.registry import DueJob

logger = logging.getLogger(__name__)


def compose(task: Task, prefs: NotificationSettings) -> tuple[str, str, str]:
    """The words of a reminder: title, text with the due time in the user's zone, and link."""
    if task.due_at is not None:
        due = f"Due {_local_time(task.due_at, prefs.timezone)} ({prefs.timezone})."
    else:
        due = "No due date."
    text = f"{task.title}\n{due}"
    if task.description:
        text += f"\n\n{task.description[:500]}"
    link = f"{settings.PUBLIC_BASE_URL}/api/v1/tasks/{task.pk}/"
    return f"Reminder: {task.title}", text, link


def _local_time(moment: datetime, zone_name: str) -> str:
    local = moment.astimezone(ZoneInfo(zone_name))
    return f"{local:%a %d %b %Y, %H:%M} {local.tzname()}"


def reminder_payload(reminder: Reminder) -> dict[str, Any]:
    return {
        "id": str(reminder.pk),
        "task_id": str(reminder.task_id),
        "before": reminder.before.total_seconds() if reminder.before is not None else None,
        "at": reminder.at,
        "channels": list(reminder.channels),
        "fire_at": reminder.fire_at,
        "fired_at": reminder.fired_at,
        "status": reminder.status,
    }


def reminders_fire(jobs: Sequence[DueJob]) -> None:
    """Handle due reminder jobs: claim them now, send email and push once the claim commits.

    Joins the job's transaction when there is one (the runtimes open it), so the job's
    removal and the claim commit together.
    """
    with transaction.atomic():
        lease = reminders_claim(jobs)
        if lease is not None:
            transaction.on_commit(lambda: hand_over(lease), robust=True)


def reminders_claim(jobs: Sequence[DueJob]) -> Lease | None:
    """Claim the jobs' reminders and write their notifications and events.

    Runs in the caller's transaction. Returns the email and push still to send, under a lease
    (see `leases`); None when in-app-only reminders, skipped ones and ignored jobs leave
    nothing to send.
    """
    now = timezone.now()
    expected: dict[str, datetime | None] = {}
    for job in jobs:
        reminder_id = str(job.data.get("reminder_id") or job.name.removeprefix("reminder-"))
        fire_at = job.data.get("fire_at")
        expected[reminder_id] = parse_datetime(fire_at) if fire_at else None
    # The scheduler no longer holds these jobs, whatever becomes of their reminders.
    reminder_jobs_done(names=[job.name for job in jobs])
    candidates = (
        Reminder.objects.select_for_update(of=("self",))
        .select_related("task")
        .filter(pk__in=list(expected), status=ReminderStatus.SCHEDULED, fired_at__isnull=True)
        .order_by("fire_at", "created_at", "id")
    )
    # A job left over from an older fire time (the due date moved) is not this one.
    reminders = [r for r in candidates if expected[str(r.pk)] in (None, r.fire_at)]
    ignored = len(expected) - len(reminders)
    if ignored:
        metrics.REMINDERS_FIRED.labels("ignored").inc(ignored)
        logger.info("reminder jobs ignored: already fired, moved or gone", extra={"jobs": ignored})
    if not reminders:
        return None
    Reminder.objects.filter(pk__in=[r.pk for r in reminders]).update(fired_at=now, updated_at=now)
    for reminder in reminders:
        reminder.fired_at = now
        if reminder.fire_at is not None:
            metrics.FIRE_LAG.observe(max(0.0, (now - reminder.fire_at).total_seconds()))

    done = [r for r in reminders if r.task.status == Status.COMPLETED]
    _set_status(done, ReminderStatus.SKIPPED, now=now)
    metrics.REMINDERS_FIRED.labels("skipped").inc(len(done))
    firing = [r for r in reminders if r.task.status != Status.COMPLETED]
    unsaved = _notifications(firing, now=now)
    external = [row for row in unsaved if row.channel != Channel.IN_APP]
    token, until = lease_new(now=now) if external else (None, None)
    for row in external:
        row.lease_token, row.lease_until = token, until
    rows = Notification.objects.bulk_create(unsaved)
    by_reminder: dict[Any, list[Notification]] = {r.pk: [] for r in firing}
    for row in rows:
        by_reminder[row.reminder_id].append(row)

    in_app = [row for row in rows if row.channel == Channel.IN_APP]
    for row in in_app:
        metrics.DELIVERY_ATTEMPTS.labels(row.channel, "sent").inc()
        metrics.DELIVERIES.labels(row.channel, NotificationStatus.SENT).inc()
    # Reminders with nothing left to send: in-app only, or every channel asked for is off.
    settled = {r.pk for r in firing if all(n.channel == Channel.IN_APP for n in by_reminder[r.pk])}
    _set_status(
        [r for r in firing if r.pk in settled and by_reminder[r.pk]], ReminderStatus.SENT, now=now
    )
    _set_status(
        [r for r in firing if r.pk in settled and not by_reminder[r.pk]],
        ReminderStatus.SKIPPED,
        now=now,
    )
    emit_many(
        [
            Event(
                type=topics.REMINDER_FIRED,
                subject=f"reminders/{reminder.pk}",
                data={
                    "reminder": reminder_payload(reminder),
                    "task": {"id": str(reminder.task_id)},
                },
                user_id=reminder.task.owner_id,
            )
            for reminder in firing
        ]
        + outcome_events(in_app)
    )
    metrics.REMINDERS_FIRED.labels("fired").inc(len(firing))
    claims = [
        Claimed(
            reminder_id=str(reminder.pk),
            claimed_at=now,
            ids=[row.pk for row in by_reminder[reminder.pk]],
        )
        for reminder in firing
        if reminder.pk not in settled
    ]
    return Lease(token=token, claims=claims) if token is not None else None


def _notifications(reminders: Sequence[Reminder], *, now: datetime) -> list[Notification]:
    prefs = notification_settings_by_user(user_ids={r.task.owner_id for r in reminders})
    unsaved: list[Notification] = []
    for reminder in reminders:
        task = reminder.task
        user_prefs = prefs[task.owner_id]
        enabled = user_prefs.enabled_channels()
        channels = [channel for channel in reminder.channels if channel in enabled]
        title, text, link = compose(task, user_prefs)
        for channel in channels:
            if channel == Channel.IN_APP:
                body = in_app_body(
                    text=text,
                    email_requested=Channel.EMAIL in channels,
                    email_configured=email_configured(),
                )
                delivered: dict[str, Any] = {
                    "status": NotificationStatus.SENT,
                    "attempts": 1,
                    "sent_at": now,
                }
            else:
                body, delivered = text, {}
            unsaved.append(
                Notification(
                    user_id=task.owner_id,
                    reminder=reminder,
                    task=task,
                    channel=channel,
                    title=title,
                    body=body,
                    link=link,
                    **delivered,
                )
            )
    return unsaved


def _set_status(reminders: Sequence[Reminder], status: str, *, now: datetime) -> None:
    if reminders:
        Reminder.objects.filter(pk__in=[r.pk for r in reminders]).update(
            status=status, updated_at=now
        )
        for reminder in reminders:
            reminder.status = status
