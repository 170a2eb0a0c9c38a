"""The retry schedule: a failed event waits in a table, not in the worker that failed on it.

A handler that raises does not hold its worker (a local partition, a Kafka partition under
Dapr) while it waits to try again: the event is parked as a `ParkedDelivery` row with the time
of its next attempt, and the worker goes on with the next event. Order is kept where it
matters, per consumer and user: while a user has a parked event for a consumer, that user's
later events for that consumer are parked behind it and delivered in order once it is through
(processed, or dead-lettered after 1 + EVENT_RETRY_ATTEMPTS tries). Other users' events, and
other consumers, never wait for it.

`retry_due` runs the due heads of the schedule: the local runtime calls it from each partition
worker for its own users (so one user's deliveries stay on one thread), a Dapr worker from a
thread of its own. Every step commits on its own, so a crash at any point leaves either the
parked row or the processed mark, and the guard turns a repeat into a no-op.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webapp.events.guard import Outcome, deliver_once, record_dead_letter
from webapp.events.models import ParkedDelivery
from webapp.events.registry import Envelope, Subscription, subscription_named

logger = logging.getLogger(__name__)

# (consumer, partition key): the unit whose order a parked event holds.
Group = tuple[str, str]


def partition_key(envelope: Envelope) -> str:
    return str(envelope.get("partitionkey") or "")


def tries_allowed() -> int:
    return 1 + settings.EVENT_RETRY_ATTEMPTS


def _next_attempt(now: datetime) -> datetime:
    return now + timedelta(seconds=settings.EVENT_RETRY_DELAY_SECONDS)


def parked_groups(keys: Iterable[str]) -> set[Group]:
    """The (consumer, partition key) groups with a parked event, among `keys`; one query."""
    wanted = sorted(set(keys))
    if not wanted:
        return set()
    return set(
        ParkedDelivery.objects.filter(partition_key__in=wanted)
        .values_list("consumer", "partition_key")
        .distinct()
    )


def park(subscription: Subscription, envelope: Envelope, *, error: BaseException | None) -> None:
    """Park `envelope` for `subscription`: after a failed try (`error`), or behind an earlier
    parked event of its user (no error: it waits for that one, never tried).

    Parking an event already parked (a redelivery) changes nothing.
    """
    ParkedDelivery.objects.bulk_create(
        [
            ParkedDelivery(
                consumer=subscription.consumer,
                partition_key=partition_key(envelope),
                topic=subscription.topic,
                event_id=envelope["id"],
                envelope=envelope,
                attempts=1 if error else 0,
                next_attempt_at=_next_attempt(timezone.now()) if error else None,
                last_error=repr(error)[:10000] if error else "",
            )
        ],
        ignore_conflicts=True,
    )
    if error is not None:
        logger.warning(
            "handler failed; event parked for a retry",
            extra={
                "consumer": subscription.consumer,
                "event_id": envelope.get("id"),
                "partition_key": partition_key(envelope),
                "error": repr(error),
            },
        )


def deliver_or_park(
    subscription: Subscription, envelope: Envelope, *, parked: set[Group] | None = None
) -> Outcome:
    """Deliver `envelope` through the guard once; park it on failure or behind its user.

    `parked` is what the caller already knows of the schedule (`parked_groups` for a batch);
    it is updated when this call parks a group. Without it, the schedule is asked.
    With EVENT_RETRY_ATTEMPTS at 0 a failure goes straight to a dead letter.
    """
    group = (subscription.consumer, partition_key(envelope))
    known = parked if parked is not None else parked_groups([group[1]])
    if group in known:
        park(subscription, envelope, error=None)
        return Outcome.PARKED
    try:
        processed = deliver_once(subscription, envelope)
    except Exception as exc:
        if tries_allowed() == 1:
            record_dead_letter(
                subscription.consumer, subscription.topic, envelope, error=exc, attempts=1
            )
            return Outcome.DEAD_LETTERED
        park(subscription, envelope, error=exc)
        known.add(group)
        return Outcome.PARKED
    return Outcome.PROCESSED if processed else Outcome.DUPLICATE


@dataclass(frozen=True)
class RetryPass:
    outcomes: list[Outcome]
    # When the earliest event still parked is next due (None: nothing is waiting).
    next_at: datetime | None


# The first row of each group, when it is due: the groups' heads. The table is the schedule of
# failures only, so it stays small; DISTINCT ON walks the (consumer, partition_key, id) index.
_DUE_HEADS_SQL = (
    "SELECT * FROM ("  # noqa: S608 (the table name comes from the model, values are bound)
    f"SELECT DISTINCT ON (consumer, partition_key) * FROM {ParkedDelivery._meta.db_table} "
    "WHERE consumer = ANY(%s) ORDER BY consumer, partition_key, id) AS head "
    "WHERE next_attempt_at IS NULL OR next_attempt_at <= %s ORDER BY id LIMIT %s"
)


def retry_due(
    *,
    consumers: Iterable[str],
    now: datetime | None = None,
    accept: Callable[[str], bool] | None = None,
    limit: int = 200,
) -> RetryPass:
    """Try the due head of every group of `consumers` (whose partition key `accept`s); a head
    that goes through (or is dead-lettered) lets the rest of its group follow at once.

    Two processes draining the same group at once (two replicas of a worker) deliver nothing
    twice: the guard's mark makes the second a duplicate, after the first has committed.
    """
    moment = now or timezone.now()
    names = sorted(consumers)
    outcomes: list[Outcome] = []
    for head in ParkedDelivery.objects.raw(_DUE_HEADS_SQL, [names, moment, limit]):
        if accept is None or accept(head.partition_key):
            outcomes.extend(_drain(head))
    # Of the accepted groups only: a partition with none left knows its users have nothing
    # parked (every group has a head with a time once its first try has failed).
    waiting = ParkedDelivery.objects.filter(consumer__in=names, next_attempt_at__isnull=False)
    times = [
        at
        for key, at in waiting.values_list("partition_key", "next_attempt_at")
        if at is not None and (accept is None or accept(key))
    ]
    return RetryPass(outcomes, min(times, default=None))


def _drain(head: ParkedDelivery) -> list[Outcome]:
    """Deliver `head` and then the events parked behind it, until one fails again."""
    outcomes: list[Outcome] = []
    current: ParkedDelivery | None = head
    while current is not None:
        outcome = _attempt(current)
        outcomes.append(outcome)
        if outcome is Outcome.PARKED:
            return outcomes
        current = (
            ParkedDelivery.objects.filter(
                consumer=current.consumer, partition_key=current.partition_key
            )
            .order_by("id")
            .first()
        )
    return outcomes


def _attempt(row: ParkedDelivery) -> Outcome:
    subscription = subscription_named(row.consumer)
    try:
        if subscription is None:
            raise LookupError(f"no subscriber named {row.consumer} (retired or renamed?)")
        with transaction.atomic():
            processed = deliver_once(subscription, row.envelope)
            row.delete()
        return Outcome.PROCESSED if processed else Outcome.DUPLICATE
    except Exception as exc:
        attempts = row.attempts + 1
        if subscription is None or attempts >= tries_allowed():
            with transaction.atomic():
                record_dead_letter(
                    row.consumer, row.topic, row.envelope, error=exc, attempts=attempts
                )
                row.delete()
            return Outcome.DEAD_LETTERED
        row.attempts = attempts
        row.next_attempt_at = _next_attempt(timezone.now())
        row.last_error = repr(exc)[:10000]
        row.save(update_fields=["attempts", "next_attempt_at", "last_error"])
        logger.warning(
            "handler failed again; retry scheduled",
            extra={"consumer": row.consumer, "event_id": str(row.event_id), "attempts": attempts},
        )
        return Outcome.PARKED
