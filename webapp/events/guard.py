"""The consumer guard: a handler's effects and its (consumer, event id) mark commit together."""

from __future__ import annotations

import logging
import uuid
from enum import Enum

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webapp.events.models import DeadLetter, ProcessedEvent
from webapp.events.registry import Envelope, Subscription
from webapp.tracing import handling_event

logger = logging.getLogger(__name__)


class Outcome(Enum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    DEAD_LETTERED = "dead-lettered"
    # Waiting in the retry schedule (see retries.py).
    PARKED = "parked"


def deliver_once(subscription: Subscription, envelope: Envelope) -> bool:
    """Run the handler unless this consumer already processed the event.

    Returns False for a duplicate. An exception from the handler rolls back its effects and
    the mark, so the caller can retry.
    """
    with transaction.atomic():
        if not _mark_processed_many(subscription.consumer, [envelope["id"]]):
            logger.info(
                "duplicate event ignored",
                extra={"consumer": subscription.consumer, "event_id": envelope["id"]},
            )
            return False
        with handling_event(envelope, subscription.consumer):
            subscription.handler(envelope)
    return True


def deliver_together(subscription: Subscription, envelopes: list[Envelope]) -> bool:
    """Run the handler for every envelope this consumer has not seen, all in one transaction.

    One INSERT marks the whole batch, so a burst costs a few statements, not three per event.
    Returns False (and has changed nothing) if any handler raised: the caller then delivers
    the events one by one, so one bad event is retried and dead-lettered alone.
    """
    try:
        with transaction.atomic():
            fresh = _mark_processed_many(subscription.consumer, [e["id"] for e in envelopes])
            for envelope in envelopes:
                if envelope["id"] in fresh:
                    with handling_event(envelope, subscription.consumer):
                        subscription.handler(envelope)
    except Exception as exc:
        logger.warning(
            "batch delivery failed; delivering one by one",
            extra={"consumer": subscription.consumer, "size": len(envelopes), "error": repr(exc)},
        )
        return False
    return True


# The table name comes from the model, every value is bound.
_MARK_MANY_SQL = (
    f"INSERT INTO {ProcessedEvent._meta.db_table} (consumer, event_id, processed_at) "  # noqa: S608
    "SELECT %s, event_id, %s FROM unnest(%s::uuid[]) AS event_id "
    "ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id"
)


def _mark_processed_many(consumer: str, event_ids: list[str]) -> set[str]:
    """Mark each event; the ids (as given) of those not marked before.

    ON CONFLICT instead of catching IntegrityError: no savepoint round trips, and a concurrent
    delivery of the same event waits for the first to commit or roll back rather than failing.
    """
    with transaction.get_connection().cursor() as cursor:
        cursor.execute(_MARK_MANY_SQL, [consumer, timezone.now(), event_ids])
        marked = {str(row[0]) for row in cursor.fetchall()}
    return {event_id for event_id in event_ids if str(uuid.UUID(event_id)) in marked}


def deliver_with_retries(subscription: Subscription, envelope: Envelope) -> Outcome:
    """Try the handler 1 + EVENT_RETRY_ATTEMPTS times in a row, then keep a dead letter.

    For the inline runtime of the tests, where delivery happens inside the request; the
    runtimes that serve go through the retry schedule instead (retries.py).
    """
    attempts = 1 + settings.EVENT_RETRY_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            return Outcome.PROCESSED if deliver_once(subscription, envelope) else Outcome.DUPLICATE
        except Exception as exc:
            if attempt == attempts:
                record_dead_letter(
                    subscription.consumer, subscription.topic, envelope, error=exc, attempts=attempt
                )
                return Outcome.DEAD_LETTERED
            logger.warning(
                "handler failed; retrying",
                extra={"consumer": subscription.consumer, "attempt": attempt, "error": repr(exc)},
            )
    raise AssertionError("unreachable: the last attempt returns")  # pragma: no cover


def record_dead_letter(
    consumer: str, topic: str, envelope: Envelope, *, error: BaseException, attempts: int
) -> DeadLetter:
    logger.error(
        "event dead-lettered",
        extra={
            "consumer": consumer,
            "event_id": envelope.get("id"),
            "type": envelope.get("type"),
            "error": repr(error),
        },
    )
    return DeadLetter.objects.create(
        consumer=consumer,
        topic=topic,
        event_id=envelope["id"],
        envelope=envelope,
        error=repr(error)[:10000],
        attempts=attempts,
    )
