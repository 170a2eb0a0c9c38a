"""Operator actions on the event tables: replaying dead letters and pruning old rows."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from django.db import models, transaction
from django.utils import timezone

from webapp.events.guard import deliver_once
from webapp.events.models import DeadLetter, OutboxEvent, ProcessedEvent
from webapp.events.registry import subscription_named

logger = logging.getLogger(__name__)

PRUNE_BATCH = 5000


class ReplayOutcome(Enum):
    REPLAYED = "replayed"
    DUPLICATE = "already processed"
    FAILED = "failed again"
    NO_CONSUMER = "no such consumer"
    ALREADY_REPLAYED = "already replayed"


@dataclass(frozen=True)
class ReplayResult:
    dead_letter_id: int
    consumer: str
    event_id: str
    outcome: ReplayOutcome
    error: str = ""


def dead_letter_replay(*, dead_letter: DeadLetter) -> ReplayResult:
    """Deliver a dead letter's event to its consumer again, through the consumer guard.

    The failed attempts rolled back their processed-event mark, so the handler runs. Success
    marks the letter replayed; another failure keeps it (with the new error) for a later try.
    """
    subscription = subscription_named(dead_letter.consumer)

    def result(outcome: ReplayOutcome, error: str = "") -> ReplayResult:
        return ReplayResult(
            dead_letter.pk, dead_letter.consumer, str(dead_letter.event_id), outcome, error
        )

    if subscription is None:
        return result(ReplayOutcome.NO_CONSUMER)
    with transaction.atomic():
        # The lock keeps two operators from replaying the same letter at once.
        letter = DeadLetter.objects.select_for_update().get(pk=dead_letter.pk)
        if letter.replayed_at is not None:
            return result(ReplayOutcome.ALREADY_REPLAYED)
        try:
            processed = deliver_once(subscription, letter.envelope)
        except Exception as exc:
            letter.attempts += 1
            letter.error = repr(exc)[:10000]
            letter.save(update_fields=["attempts", "error"])
            logger.warning(
                "dead letter replay failed",
                extra={"dead_letter": letter.pk, "consumer": letter.consumer, "error": repr(exc)},
            )
            return result(ReplayOutcome.FAILED, letter.error)
        letter.replayed_at = timezone.now()
        letter.save(update_fields=["replayed_at"])
    return result(ReplayOutcome.REPLAYED if processed else ReplayOutcome.DUPLICATE)


@dataclass(frozen=True)
class PruneResult:
    outbox_events: int
    processed_events: int


def events_prune(*, older_than: timedelta, now: datetime | None = None) -> PruneResult:
    """Delete published outbox rows and processed-event marks older than `older_than`.

    Pending rows are never deleted, whatever their age: they have not reached every consumer.
    Deletes go in batches so a large backlog does not hold one long transaction.
    """
    cutoff = (now or timezone.now()) - older_than
    outbox = _delete_in_batches(
        OutboxEvent.objects.filter(published_at__isnull=False, created_at__lt=cutoff)
    )
    processed = _delete_in_batches(ProcessedEvent.objects.filter(processed_at__lt=cutoff))
    logger.info(
        "events pruned",
        extra={"outbox_events": outbox, "processed_events": processed, "cutoff": cutoff},
    )
    return PruneResult(outbox_events=outbox, processed_events=processed)


def _delete_in_batches(rows: models.QuerySet[OutboxEvent] | models.QuerySet[ProcessedEvent]) -> int:
    deleted = 0
    while True:
        keys = list(rows.values_list("pk", flat=True)[:PRUNE_BATCH])
        if not keys:
            return deleted
        count, _ = rows.model.objects.filter(pk__in=keys).delete()
        deleted += count
