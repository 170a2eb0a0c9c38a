"""The consumer guard: a handler's effects and its (consumer, event id) mark commit together."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction

from webapp.events.models import DeadLetter, ProcessedEvent
from webapp.events.registry import Envelope, Subscription

logger = logging.getLogger(__name__)


def deliver_once(subscription: Subscription, envelope: Envelope) -> bool:
    """Run the handler unless this consumer already processed the event.

    Returns False for a duplicate. An exception from the handler rolls back its effects and
    the mark, so the caller can retry.
    """
    with transaction.atomic():
        try:
            with transaction.atomic():
                ProcessedEvent.objects.create(
                    consumer=subscription.consumer, event_id=envelope["id"]
                )
        except IntegrityError:
            logger.info(
                "duplicate event ignored",
                extra={"consumer": subscription.consumer, "event_id": envelope["id"]},
            )
            return False
        subscription.handler(envelope)
    return True


def record_dead_letter(
    subscription: Subscription, envelope: Envelope, *, error: BaseException, attempts: int
) -> DeadLetter:
    logger.error(
        "event dead-lettered",
        extra={
            "consumer": subscription.consumer,
            "event_id": envelope.get("id"),
            "type": envelope.get("type"),
            "error": repr(error),
        },
    )
    return DeadLetter.objects.create(
        consumer=subscription.consumer,
        topic=subscription.topic,
        event_id=envelope["id"],
        envelope=envelope,
        error=repr(error),
        attempts=attempts,
    )
