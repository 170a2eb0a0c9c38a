"""Reads of the event tables: the per-user change feed and dead letters awaiting replay."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet

from webapp.events.models import DeadLetter, OutboxEvent

FEED_DEFAULT_LIMIT = 100
FEED_MAX_LIMIT = 500


def event_feed(
    *, user: AbstractBaseUser, after: int = 0, limit: int = FEED_DEFAULT_LIMIT
) -> list[OutboxEvent]:
    """The user's own events with a sequence above `after`, oldest first."""
    return list(
        OutboxEvent.objects.filter(user_id=user.pk, sequence__gt=after).order_by("sequence")[:limit]
    )


def dead_letters_unreplayed(
    *, consumer: str | None = None, ids: Sequence[int] | None = None
) -> QuerySet[DeadLetter]:
    """Dead letters not yet replayed, oldest first, narrowed by consumer and/or ids."""
    letters = DeadLetter.objects.filter(replayed_at__isnull=True)
    if consumer is not None:
        letters = letters.filter(consumer=consumer)
    if ids is not None:
        letters = letters.filter(pk__in=list(ids))
    return letters.order_by("created_at", "pk")
