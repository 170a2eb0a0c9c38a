"""Leases on pending deliveries, so email and push survive a sender that stops.

Whoever hands pending notifications to sending threads (the reminder claim, a take-over)
first gives them a lease in the same transaction: a fresh token and an expiry, plus a check
job `notification-check-<token>` due just after the expiry. Sending renews the lease before
each round. When the check job fires:

- rows of the token no longer pending were delivered: nothing to do;
- a lease still running (its sender renewed it through long retries) is checked again when
  it ends;
- a lapsed lease means its sender stopped (crash, restart, a queue dropped at shutdown): the
  rows get a new lease and go to this process's sending threads.

A sender that lost its rows this way notices at its next renewal and leaves them alone, so two
live senders never deliver the same row. A process that dies after SMTP accepted a message but
before recording it sends that message again: at-least-once is the most email allows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from notifications_app.delivery import (
    Claimed,
    Lease,
    hand_over,
    lease_duration,
    notifications_deliver,
)
from notifications_app.models import Notification, NotificationStatus
from webapp.events import jobs

CHECK_JOB_PREFIX = "notification-check-"
# The check fires this long after the expiry, so a sender renewing on time always wins.
CHECK_MARGIN = timedelta(seconds=30)


def lease_new(*, now: datetime) -> tuple[uuid.UUID, datetime]:
    """A token and expiry for rows about to be written, and their check job.

    Call inside the transaction that writes the rows, so the job and the rows commit together.
    """
    token, until = uuid.uuid4(), now + lease_duration()
    lease_check_schedule(token=token, until=until)
    return token, until


def lease_check_schedule(*, token: uuid.UUID, until: datetime) -> None:
    jobs.schedule(
        name=f"{CHECK_JOB_PREFIX}{token}", due_at=until + CHECK_MARGIN, data={"token": str(token)}
    )


def lease_check(*, token: str) -> int:
    """The check job: hand on the token's rows if its lease lapsed; returns how many."""
    now = timezone.now()
    with transaction.atomic():
        rows = list(
            Notification.objects.select_for_update(skip_locked=True).filter(
                lease_token=token, status=NotificationStatus.PENDING
            )
        )
        live = [row.lease_until for row in rows if row.lease_until and row.lease_until > now]
        if live:
            lease_check_schedule(token=uuid.UUID(token), until=max(live))
            return 0
        if not rows:
            return 0
        lease = _lease(rows, now=now)
        transaction.on_commit(lambda: hand_over(lease), robust=True)
    return len(rows)


def notifications_redeliver(*, older_than_seconds: float = 600.0) -> int:
    """Deliver, in this thread, rows pending longer than that whose lease lapsed or is unset.

    For operators (`reschedule_reminder_jobs`), when check jobs were lost with the scheduler's
    state; normally the check jobs do this on their own.
    """
    now = timezone.now()
    cutoff = now - timedelta(seconds=older_than_seconds)
    with transaction.atomic():
        rows = list(
            Notification.objects.select_for_update(skip_locked=True)
            .filter(status=NotificationStatus.PENDING, created_at__lt=cutoff)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
            .order_by("pk")
        )
        lease = _lease(rows, now=now) if rows else None
    if lease is not None:
        notifications_deliver(lease)
    return len(rows)


def _lease(rows: Sequence[Notification], *, now: datetime) -> Lease:
    token, until = lease_new(now=now)
    Notification.objects.filter(pk__in=[row.pk for row in rows]).update(
        lease_token=token, lease_until=until
    )
    fired_at = dict(
        Notification.objects.filter(pk__in=[row.pk for row in rows]).values_list(
            "pk", "reminder__fired_at"
        )
    )
    claims: dict[str | None, Claimed] = {}
    for row in rows:
        key = str(row.reminder_id) if row.reminder_id else None
        claim = claims.setdefault(
            key, Claimed(reminder_id=key, claimed_at=fired_at.get(row.pk), ids=[])
        )
        claim.ids.append(row.pk)
    return Lease(token=token, claims=list(claims.values()))
