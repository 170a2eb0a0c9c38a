"""Delivering claimed reminders on email and push, with retries, then settling them.

`firing` claims reminders and writes one `Notification` per channel; what it hands over here
(email and push) is sent outside any transaction, because it waits on SMTP and FCM. Channels
are independent: each row is tried, then the failed ones are retried after each backoff delay,
so a dead SMTP server never holds back push. A channel that still fails after its retries is
marked failed and published as `todo.notification.failed.v1` on `alerts` and `alerts-dlq`
(the operators' copy); a sent one as `todo.notification.sent.v1`.

Deliveries go in batches: one query loads a batch's rows, each round's outcomes are written
with one transaction, and a sending thread keeps its SMTP session open between messages. The
rows are held under a lease (see `leases`) that each round renews first, so rows another
sender took over are never sent twice.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from notifications_app import metrics
from notifications_app.channels import ChannelSkipped
from notifications_app.channels.email import build_email, send_email
from notifications_app.channels.push import send_push
from notifications_app.models import (
    Channel,
    Notification,
    NotificationStatus,
    Reminder,
    ReminderStatus,
)
from notifications_app.selectors import device_tokens
from notifications_app.services import devices_remove_tokens
from webapp.events import topics
from webapp.events.outbox import Event, emit_many
from webapp.events.runtime import get_runtime

logger = logging.getLogger(__name__)

# Claims one sending thread takes at a time: enough to share a query, a transaction and an
# SMTP session, few enough that a burst spreads over every thread.
SEND_BATCH = 25


@dataclass(frozen=True)
class Claimed:
    """A fired reminder's notifications still to deliver; `claimed_at` is its `fired_at`."""

    reminder_id: str | None
    claimed_at: datetime | None
    ids: list[int]


@dataclass(frozen=True)
class Lease:
    """Pending notifications held under `token` (see `leases`), grouped by reminder."""

    token: uuid.UUID
    claims: list[Claimed]


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


def outcome_events(rows: Sequence[Notification]) -> list[Event]:
    """Sent and failed deliveries are events on `alerts`; a failure is copied to `alerts-dlq`
    for operators. Skipped ones (nothing configured, no devices) are only in the log."""
    events: list[Event] = []
    for row in rows:
        if row.status not in {NotificationStatus.SENT, NotificationStatus.FAILED}:
            continue
        failed = row.status == NotificationStatus.FAILED
        event_type = topics.NOTIFICATION_FAILED if failed else topics.NOTIFICATION_SENT
        data = {"notification": notification_payload(row)}
        subject = f"notifications/{row.pk}"
        events.append(Event(type=event_type, subject=subject, data=data, user_id=row.user_id))
        if failed:
            events.append(
                Event(
                    topic=topics.dead_letter_topic(topics.ALERTS),
                    type=event_type,
                    subject=subject,
                    data=data,
                    user_id=row.user_id,
                )
            )
    return events


# --- threads ---------------------------------------------------------------------------------

_send_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def hand_over(lease: Lease) -> None:
    """Deliver what `lease` holds (called once the lease commits).

    Sending threads take it in batches, so neither the local runtime's job timer nor a Dapr
    job call waits on SMTP and FCM; the inline runtime of the tests delivers in the caller's
    thread so a test sees the result when fire_due_jobs() returns.
    """
    pool = _send_threads()
    if pool is None:
        notifications_deliver(lease)
        return
    for start in range(0, len(lease.claims), SEND_BATCH):
        batch = Lease(lease.token, lease.claims[start : start + SEND_BATCH])
        try:
            pool.submit(_deliver_in_thread, batch)
        except RuntimeError:  # the process is exiting: the lease lapses and its check job
            return  # hands the rows to another sender


def _send_threads() -> ThreadPoolExecutor | None:
    global _send_pool
    if get_runtime().name == "inline" or settings.NOTIFICATION_DELIVERY_THREADS == 0:
        return None
    with _pool_lock:
        if _send_pool is None:
            _send_pool = ThreadPoolExecutor(
                settings.NOTIFICATION_DELIVERY_THREADS, thread_name_prefix="notification-send"
            )
        return _send_pool


def _deliver_in_thread(lease: Lease) -> None:
    close_old_connections()
    try:
        notifications_deliver(lease)
    except Exception:
        logger.exception(
            "delivering reminders failed; their lease lapses and its check job retries them",
            extra={"reminders": [claim.reminder_id for claim in lease.claims]},
        )
    finally:
        close_old_connections()


def stop_threads(*, drop_queued: bool = False) -> None:
    """End the sending threads once the deliveries in hand are done.

    `drop_queued` also drops deliveries still queued: their notifications stay pending until
    their lease lapses and its check job hands them to a sender again.
    """
    global _send_pool
    with _pool_lock:
        pool, _send_pool = _send_pool, None
    if pool is not None:
        pool.shutdown(wait=True, cancel_futures=drop_queued)


# --- delivering ------------------------------------------------------------------------------


def notifications_deliver(lease: Lease) -> None:
    """Deliver the lease's pending notifications, retrying failed channels, then settle them.

    Each round first renews the lease; rows another sender has taken over since (this one
    stalled past its lease) are left to it.
    """
    ids = [pk for claim in lease.claims for pk in claim.ids]
    ours = _renew(ids, lease.token)
    pending = list(Notification.objects.filter(pk__in=ours).select_related("user").order_by("pk"))
    delays = list(settings.NOTIFICATION_RETRY_DELAYS)
    retry_round = 0
    while pending:
        final = retry_round >= len(delays)
        settled = [row for row in pending if _attempt(row, final=final)]
        retrying = [row for row in pending if row.status == NotificationStatus.PENDING]
        _record(settled=settled, retrying=retrying)
        if not retrying:
            break
        time.sleep(delays[retry_round])
        retry_round += 1
        ours = _renew([row.pk for row in retrying], lease.token)
        pending = [row for row in retrying if row.pk in ours]
    _settle_reminders(lease.claims)


def _renew(ids: Sequence[int], token: uuid.UUID) -> set[int]:
    """Extend the lease on the rows of `ids` still pending under `token`; returns their ids."""
    held = Notification.objects.filter(pk__in=list(ids), status=NotificationStatus.PENDING)
    held = held.filter(lease_token=token)
    held.update(lease_until=timezone.now() + lease_duration())
    # Renewed just now, so no other sender can take them between these two statements.
    return set(held.values_list("pk", flat=True))


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.NOTIFICATION_LEASE_SECONDS)


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
    # In-app rows are delivered when they are written (see `firing`).


def _attempt(row: Notification, *, final: bool) -> bool:
    """One try, recorded on `row`; returns True when it is settled (sent, skipped, failed)."""
    row.attempts += 1
    try:
        _send(row)
    except ChannelSkipped as skipped:
        metrics.DELIVERY_ATTEMPTS.labels(row.channel, "skipped").inc()
        _settle(row, NotificationStatus.SKIPPED, error=str(skipped))
        return True
    except Exception as exc:
        metrics.DELIVERY_ATTEMPTS.labels(row.channel, "error").inc()
        row.error = f"{type(exc).__name__}: {exc}"[:2000]
        if final:
            logger.error(
                "notification failed after retries",
                extra={"notification": row.pk, "channel": row.channel, "error": row.error},
            )
            _settle(row, NotificationStatus.FAILED, error=row.error)
            return True
        logger.warning(
            "notification attempt failed; will retry",
            extra={"notification": row.pk, "channel": row.channel, "attempts": row.attempts},
        )
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


def _record(*, settled: Sequence[Notification], retrying: Sequence[Notification]) -> None:
    """Write one round's outcomes and their events together."""
    rows = [*settled, *retrying]
    if not rows:
        return
    with transaction.atomic():
        Notification.objects.bulk_update(rows, ["status", "error", "attempts", "sent_at"])
        emit_many(outcome_events(settled))


def _settle_reminders(claims: Sequence[Claimed]) -> None:
    """Give each delivered reminder its outcome from its notifications' statuses."""
    statuses: dict[int, str] = dict(
        Notification.objects.filter(
            pk__in=[pk for claim in claims for pk in claim.ids]
        ).values_list("pk", "status")
    )
    settled: dict[tuple[str, datetime], list[str]] = {}
    for claim in claims:
        if claim.reminder_id is None or claim.claimed_at is None:
            continue
        outcome = _reminder_outcome([statuses.get(pk) for pk in claim.ids])
        if outcome is not None:  # None: another process is still delivering
            settled.setdefault((outcome, claim.claimed_at), []).append(claim.reminder_id)
    now = timezone.now()
    for (outcome, claimed_at), reminder_ids in settled.items():
        # Only the firing we delivered: a due date moved meanwhile re-armed the reminder anew.
        Reminder.objects.filter(pk__in=reminder_ids, fired_at=claimed_at).update(
            status=outcome, updated_at=now
        )


def _reminder_outcome(statuses: Sequence[str | None]) -> str | None:
    if NotificationStatus.PENDING in statuses:
        return None
    sent = NotificationStatus.SENT in statuses
    failed = NotificationStatus.FAILED in statuses
    if sent and failed:
        return ReminderStatus.PARTIALLY_SENT
    if sent:
        return ReminderStatus.SENT
    if failed:
        return ReminderStatus.FAILED
    return ReminderStatus.SKIPPED
