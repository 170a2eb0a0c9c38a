"""Firing a reminder and delivering it on each of its channels.

Firing (the `reminder-<id>` job) is one short transaction: claim the reminder with a
conditional UPDATE (a second trigger of the same job finds it claimed and sends nothing),
re-check the task, write one `Notification` per channel and the fired event. In-app entries
need nothing more and are delivered in that transaction; email and push are sent after it
commits, outside any transaction, because they wait on SMTP and FCM. Channels
are independent: each is tried, then the failed ones are retried after each backoff delay, so
a dead SMTP server never holds back push or in-app. A channel that still fails after its
retries is marked failed and published as `todo.notification.failed.v1` on `alerts` and
`alerts-dlq` (the operators' copy).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from notifications_app import metrics
from notifications_app.channels import ChannelSkipped
from notifications_app.channels.email import build_email, email_configured, send_email
from notifications_app.channels.in_app import in_app_body
from notifications_app.channels.push import send_push
from notifications_app.models import (
    Channel,
    Notification,
    NotificationSettings,
    NotificationStatus,
    Reminder,
    ReminderStatus,
)
from notifications_app.scheduling import reminder_job_done
from notifications_app.selectors import device_tokens, notification_settings_for
from notifications_app.services import devices_remove_tokens
from tasks_app.models import Status, Task
from webapp.events import topics
from webapp.events.outbox import emit
from webapp.events.runtime import get_runtime

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Content:
    title: str
    text: str
    link: str


def _local_time(moment: datetime, zone_name: str) -> str:
    local = moment.astimezone(ZoneInfo(zone_name))
    return f"{local:%a %d %b %Y, %H:%M} {local.tzname()}"


def compose(task: Task, prefs: NotificationSettings) -> Content:
    """The words of a reminder: title, due time in the user's zone, and a link to the task."""
    if task.due_at is not None:
        due = f"Due {_local_time(task.due_at, prefs.timezone)} ({prefs.timezone})."
    else:
        due = "No due date."
    text = f"{task.title}\n{due}"
    if task.description:
        text += f"\n\n{task.description[:500]}"
    link = f"{settings.PUBLIC_BASE_URL}/api/v1/tasks/{task.pk}/"
    return Content(title=f"Reminder: {task.title}", text=text, link=link)


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


def notification_payload(notification: Notification) -> dict[str, Any]:
    return {
        "id": notification.pk,
        "user_id": notification.user_id,
        "reminder_id": str(notification.reminder_id) if notification.reminder_id else None,
        "task_id": str(notification.task_id) if notification.task_id else None,
        "channel": notification.channel,
        "status": notification.status,
        "attempts": notification.attempts,
        "error": notification.error,
        "created_at": notification.created_at,
        "sent_at": notification.sent_at,
    }


# --- firing ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    reminder_id: str
    claimed_at: datetime
    ids: list[int]


def reminder_fire(*, job_name: str, data: Mapping[str, Any]) -> None:
    """Handle the job `reminder-<id>`.

    Under the local runtime the job timer is one thread, so it only hands the reminder to the
    delivery threads once the job's removal commits; a thread claims and delivers it. Under
    Dapr (a thread per job call) and in tests the claim joins the job's own transaction and
    delivery follows its commit in the same thread.
    """
    pool = _delivery_pool()
    if pool is not None:
        transaction.on_commit(
            lambda: pool.submit(_fire_in_thread, job_name, dict(data)), robust=True
        )
        return
    with transaction.atomic():
        claimed = reminder_claim(job_name=job_name, data=data)
        if claimed is not None:
            transaction.on_commit(lambda: _deliver(claimed), robust=True)


def _fire_in_thread(job_name: str, data: dict[str, Any]) -> None:
    close_old_connections()
    try:
        with transaction.atomic():
            claimed = reminder_claim(job_name=job_name, data=data)
        if claimed is not None:
            try:
                _pools()[1].submit(_deliver_in_thread, claimed)
            except RuntimeError:  # the process is exiting: send it from this thread
                _deliver(claimed)
    except Exception:
        logger.exception("firing a reminder failed", extra={"job": job_name})
    finally:
        close_old_connections()


def _deliver_in_thread(claimed: Claimed) -> None:
    close_old_connections()
    try:
        _deliver(claimed)
    except Exception:
        logger.exception("delivering a reminder failed", extra={"reminder": claimed.reminder_id})
    finally:
        close_old_connections()


def _deliver(claimed: Claimed) -> None:
    notifications_deliver(
        reminder_id=claimed.reminder_id, ids=claimed.ids, claimed_at=claimed.claimed_at
    )


def reminder_claim(*, job_name: str, data: Mapping[str, Any]) -> Claimed | None:
    """Claim the reminder and write its pending notifications and fired event.

    Returns None when there is nothing to deliver: already claimed (a repeated trigger), moved
    to another time, gone with its task, its task completed, or every channel turned off.
    Runs inside the caller's transaction.
    """
    reminder_id = data.get("reminder_id") or job_name.removeprefix("reminder-")
    expected = parse_datetime(data["fire_at"]) if data.get("fire_at") else None
    now = timezone.now()
    reminder_job_done(name=job_name)
    claim = Reminder.objects.filter(
        pk=reminder_id, status=ReminderStatus.SCHEDULED, fired_at__isnull=True
    )
    if expected is not None:
        # A job left over from an older fire time (the due date moved) is not this one.
        claim = claim.filter(fire_at=expected)
    if claim.update(fired_at=now, updated_at=now) != 1:
        metrics.REMINDERS_FIRED.labels("ignored").inc()
        logger.info("reminder job ignored: already fired, moved or gone", extra={"job": job_name})
        return None
    reminder = Reminder.objects.select_related("task").get(pk=reminder_id)
    task = reminder.task
    if reminder.fire_at is not None:
        metrics.FIRE_LAG.observe(max(0.0, (now - reminder.fire_at).total_seconds()))
    if task.status == Status.COMPLETED:
        reminder.status = ReminderStatus.SKIPPED
        reminder.save(update_fields=["status", "updated_at"])
        metrics.REMINDERS_FIRED.labels("skipped").inc()
        return None
    prefs = notification_settings_for(user_id=task.owner_id)
    enabled = prefs.enabled_channels()
    channels = [channel for channel in reminder.channels if channel in enabled]
    content = compose(task, prefs)
    # In-app needs nothing beyond its row, so it is delivered right here, in the claim's
    # transaction: the feed entry and its sent event commit together, with no second round.
    rows = Notification.objects.bulk_create(
        Notification(
            user_id=task.owner_id,
            reminder=reminder,
            task=task,
            channel=channel,
            title=content.title,
            body=in_app_body(
                text=content.text,
                email_requested=Channel.EMAIL in channels,
                email_configured=email_configured(),
            )
            if channel == Channel.IN_APP
            else content.text,
            link=content.link,
            **(
                {"status": NotificationStatus.SENT, "attempts": 1, "sent_at": now}
                if channel == Channel.IN_APP
                else {}
            ),
        )
        for channel in channels
    )
    emit(
        type=topics.REMINDER_FIRED,
        subject=f"reminders/{reminder.pk}",
        data={"reminder": reminder_payload(reminder), "task": {"id": str(task.pk)}},
        user_id=task.owner_id,
    )
    for row in rows:
        if row.channel == Channel.IN_APP:
            metrics.DELIVERY_ATTEMPTS.labels(row.channel, "sent").inc()
            metrics.DELIVERIES.labels(row.channel, NotificationStatus.SENT).inc()
            _emit_outcome(row)
    external = [row for row in rows if row.channel != Channel.IN_APP]
    if not external:
        # Nothing left to send: in-app only, or every channel it asked for is turned off.
        reminder.status = ReminderStatus.SENT if rows else ReminderStatus.SKIPPED
        reminder.save(update_fields=["status", "updated_at"])
    metrics.REMINDERS_FIRED.labels("fired").inc()
    if not external:
        return None
    return Claimed(reminder_id=str(reminder.pk), claimed_at=now, ids=[row.pk for row in rows])


# --- delivering ------------------------------------------------------------------------------

_fire_pool: ThreadPoolExecutor | None = None
_send_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()

# Claiming is short database work; sending waits on SMTP and FCM. Separate threads for each
# keep a slow mail server from delaying when later reminders fire.
FIRE_THREADS = 2


def _pools() -> tuple[ThreadPoolExecutor, ThreadPoolExecutor]:
    global _fire_pool, _send_pool
    with _pool_lock:
        if _fire_pool is None or _send_pool is None:
            _fire_pool = ThreadPoolExecutor(FIRE_THREADS, thread_name_prefix="reminder-fire")
            _send_pool = ThreadPoolExecutor(
                settings.NOTIFICATION_DELIVERY_THREADS, thread_name_prefix="notification-send"
            )
        return _fire_pool, _send_pool


def stop_threads(*, drop_queued: bool = False) -> None:
    """End the threads once the reminders in hand are claimed and delivered.

    `drop_queued` also drops reminders still queued: they stay scheduled with their job
    bookkeeping, for `reschedule_reminder_jobs` to send again.
    """
    global _fire_pool, _send_pool
    with _pool_lock:
        fire, send = _fire_pool, _send_pool
        _fire_pool = _send_pool = None
    if fire is not None:
        fire.shutdown(wait=True, cancel_futures=drop_queued)
    if send is not None:
        send.shutdown(wait=True, cancel_futures=drop_queued)


def _delivery_pool() -> ThreadPoolExecutor | None:
    """Threads for the local runtime, whose one job timer must not wait on SMTP.

    Under Dapr each job call already has its own thread, and the inline runtime of the tests
    delivers in the caller's thread so a test sees the result when fire_due_jobs() returns.
    """
    if get_runtime().name != "local" or settings.NOTIFICATION_DELIVERY_THREADS == 0:
        return None
    return _pools()[0]


def notifications_deliver(
    *, reminder_id: str | None, ids: Sequence[int], claimed_at: datetime | None
) -> None:
    """Deliver pending notifications, retrying failed channels, then settle the reminder."""
    pending = list(
        Notification.objects.filter(pk__in=list(ids), status=NotificationStatus.PENDING)
        .select_related("user")
        .order_by("pk")
    )
    delays = list(settings.NOTIFICATION_RETRY_DELAYS)
    retry_round = 0
    while pending:
        final = retry_round >= len(delays)
        pending = [row for row in pending if not _attempt(row, final=final)]
        if not pending:
            break
        time.sleep(delays[retry_round])
        retry_round += 1
    if reminder_id is not None and claimed_at is not None:
        _settle_reminder(reminder_id=reminder_id, ids=ids, claimed_at=claimed_at)


def _send(row: Notification) -> None:
    """Deliver on the row's channel; ChannelSkipped for "cannot", any other error for "retry"."""
    if row.channel == Channel.EMAIL:
        if not row.user.email:
            raise ChannelSkipped("The user has no email address.")
        send_email(build_email(to=row.user.email, subject=row.title, text=row.body, link=row.link))
    elif row.channel == Channel.PUSH:
        tokens = device_tokens(user_id=row.user_id)
        result = send_push(
            tokens=tokens,
            title=row.title,
            body=row.body.split("\n\n", 1)[0],
            data={"task_id": str(row.task_id or ""), "notification_id": str(row.pk)},
        )
        if result.unregistered:
            removed = devices_remove_tokens(tokens=result.unregistered)
            logger.info("removed unregistered push devices", extra={"count": removed})
        if not result.sent:
            raise ChannelSkipped("No registered devices.")
    # In-app: the row is the feed entry; marking it sent below is the delivery.


def _attempt(row: Notification, *, final: bool) -> bool:
    """One try; returns True when the row is settled (sent, skipped or finally failed)."""
    row.attempts += 1
    try:
        _send(row)
    except ChannelSkipped as skipped:
        metrics.DELIVERY_ATTEMPTS.labels(row.channel, "skipped").inc()
        _settle(row, NotificationStatus.SKIPPED, error=str(skipped))
        return True
    except Exception as exc:
        metrics.DELIVERY_ATTEMPTS.labels(row.channel, "error").inc()
        error = f"{type(exc).__name__}: {exc}"[:2000]
        if final:
            logger.error(
                "notification failed after retries",
                extra={"notification": row.pk, "channel": row.channel, "error": error},
            )
            _settle(row, NotificationStatus.FAILED, error=error)
            return True
        logger.warning(
            "notification attempt failed; will retry",
            extra={"notification": row.pk, "channel": row.channel, "attempts": row.attempts},
        )
        row.error = error
        row.save(update_fields=["attempts", "error"])
        return False
    metrics.DELIVERY_ATTEMPTS.labels(row.channel, "sent").inc()
    _settle(row, NotificationStatus.SENT, error="")
    return True


def _settle(row: Notification, status: str, *, error: str) -> None:
    row.status = status
    row.error = error
    if status == NotificationStatus.SENT:
        row.sent_at = timezone.now()
    metrics.DELIVERIES.labels(row.channel, status).inc()
    with transaction.atomic():
        row.save(update_fields=["status", "error", "attempts", "sent_at"])
        _emit_outcome(row)


def _emit_outcome(row: Notification) -> None:
    """Sent and failed deliveries are events on `alerts`; a failure is copied to `alerts-dlq`
    for operators. Skipped ones (nothing configured, no devices) are only in the log."""
    if row.status not in {NotificationStatus.SENT, NotificationStatus.FAILED}:
        return
    event_type = (
        topics.NOTIFICATION_SENT
        if row.status == NotificationStatus.SENT
        else topics.NOTIFICATION_FAILED
    )
    data = {"notification": notification_payload(row)}
    subject = f"notifications/{row.pk}"
    emit(type=event_type, subject=subject, data=data, user_id=row.user_id)
    if row.status == NotificationStatus.FAILED:
        emit(
            topic=topics.dead_letter_topic(topics.ALERTS),
            type=event_type,
            subject=subject,
            data=data,
            user_id=row.user_id,
        )


def _settle_reminder(*, reminder_id: str, ids: Sequence[int], claimed_at: datetime) -> None:
    statuses = list(Notification.objects.filter(pk__in=list(ids)).values_list("status", flat=True))
    sent = statuses.count(NotificationStatus.SENT)
    failed = statuses.count(NotificationStatus.FAILED)
    if NotificationStatus.PENDING in statuses:
        return  # another process is still delivering
    if sent and failed:
        outcome = ReminderStatus.PARTIALLY_SENT
    elif sent:
        outcome = ReminderStatus.SENT
    elif failed:
        outcome = ReminderStatus.FAILED
    else:
        outcome = ReminderStatus.SKIPPED
    # Only the firing we delivered: a due date moved meanwhile re-armed the reminder anew.
    Reminder.objects.filter(pk=reminder_id, fired_at=claimed_at).update(
        status=outcome, updated_at=timezone.now()
    )


def notifications_redeliver(*, older_than_seconds: float = 600.0) -> int:
    """Deliver notifications left pending by a process that stopped mid-delivery."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    stuck = list(
        Notification.objects.filter(status=NotificationStatus.PENDING, created_at__lt=cutoff)
        .order_by("pk")
        .values_list("pk", "reminder_id")
    )
    by_reminder: dict[Any, list[int]] = {}
    for pk, reminder_id in stuck:
        by_reminder.setdefault(reminder_id, []).append(pk)
    for reminder_id, ids in by_reminder.items():
        fired_at = (
            Reminder.objects.filter(pk=reminder_id).values_list("fired_at", flat=True).first()
            if reminder_id
            else None
        )
        notifications_deliver(
            reminder_id=str(reminder_id) if reminder_id else None, ids=ids, claimed_at=fired_at
        )
    return len(stuck)
