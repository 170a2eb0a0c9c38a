"""The relay: publishes committed outbox rows in sequence order through the runtime."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from webapp.events.models import OutboxEvent
from webapp.events.notify import announce
from webapp.events.runtime import EventRuntime

logger = logging.getLogger(__name__)

BACKOFF_BASE_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 60.0


def backoff(attempts: int) -> timedelta:
    return timedelta(
        seconds=min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))
    )


def _due_pending() -> QuerySet[OutboxEvent]:
    return OutboxEvent.objects.filter(published_at__isnull=True).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now())
    )


def pending_rows_after(
    sequence: int, *, excluding: Iterable[int] = (), limit: int
) -> list[OutboxEvent]:
    """Committed rows due for publishing after `sequence`, in order, but for `excluding`
    (rows a relay has handed out and not yet seen published)."""
    rows = _due_pending().filter(sequence__gt=sequence)
    skipped = list(excluding)
    if skipped:
        rows = rows.exclude(sequence__in=skipped)
    return list(rows.order_by("sequence")[:limit])


def mark_published(row: OutboxEvent) -> None:
    OutboxEvent.objects.filter(pk=row.pk, published_at__isnull=True).update(
        published_at=timezone.now(), publish_attempts=row.publish_attempts + 1
    )


def mark_published_many(rows: Iterable[OutboxEvent]) -> None:
    """One UPDATE for a batch a worker delivered (attempt counters are not kept for these)."""
    keys = [row.pk for row in rows]
    if keys:
        OutboxEvent.objects.filter(pk__in=keys, published_at__isnull=True).update(
            published_at=timezone.now(), publish_attempts=F("publish_attempts") + 1
        )


def mark_failed(row: OutboxEvent, exc: BaseException) -> None:
    """Record a failed publish; the row waits out a growing backoff before the next try."""
    attempts = row.publish_attempts + 1
    OutboxEvent.objects.filter(pk=row.pk).update(
        publish_attempts=attempts,
        next_attempt_at=timezone.now() + backoff(attempts),
        last_error=repr(exc)[:2000],
    )
    logger.warning(
        "publish failed; will retry",
        extra={"sequence": row.sequence, "attempts": attempts, "error": repr(exc)},
    )


def publish_pending(runtime: EventRuntime, *, batch_size: int = 200) -> int:
    """Publish due pending rows oldest first; stop at the first failure so order is kept.

    Returns how many rows were published.
    """
    published = 0
    while True:
        now = timezone.now()
        rows = list(
            OutboxEvent.objects.filter(published_at__isnull=True)
            .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
            .order_by("sequence")[:batch_size]
        )
        if not rows:
            return published
        announce(rows)
        for row in rows:
            try:
                runtime.publish(row)
            except Exception as exc:
                mark_failed(row, exc)
                return published
            mark_published(row)
            published += 1
