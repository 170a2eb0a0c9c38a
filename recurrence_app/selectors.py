"""Reads of recurring series."""

from __future__ import annotations

import uuid
from datetime import datetime

from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from recurrence_app.materialise import rule_of
from recurrence_app.models import RecurringSeries, SeriesStatus
from recurrence_app.rules import occurrences_after


def series_queryset(*, user: User) -> QuerySet[RecurringSeries]:
    """The user's series; deleted ones are gone from the API like deleted tasks."""
    return RecurringSeries.objects.filter(owner_id=user.pk).exclude(status=SeriesStatus.DELETED)


def series_get(*, user: User, series_id: object) -> RecurringSeries:
    """The user's series or a 404: another user's is indistinguishable from a missing one."""
    try:
        pk = series_id if isinstance(series_id, uuid.UUID) else uuid.UUID(str(series_id))
        return series_queryset(user=user).get(pk=pk)
    except (ValueError, RecurringSeries.DoesNotExist):
        raise Http404("No series matches the given query.") from None


def series_reminder_templates(*, series_id: uuid.UUID | str) -> list[dict[str, object]]:
    """The reminder templates a series' instances inherit (none if the series is gone)."""
    templates = (
        RecurringSeries.objects.filter(pk=series_id)
        .values_list("reminder_templates", flat=True)
        .first()
    )
    return list(templates or [])


def series_occurrences(
    *, series: RecurringSeries, limit: int, now: datetime | None = None
) -> list[datetime]:
    """The next `limit` occurrence times (UTC) from now, excluded dates removed.

    For a completion-anchored series this is the rule's calendar; the actual next due time
    depends on when the open instance is completed.
    """
    if series.status != SeriesStatus.ACTIVE:
        return []
    rule, tz = rule_of(series)
    return occurrences_after(
        rule=rule,
        tz=tz,
        dtstart=series.dtstart,
        after=now or timezone.now(),
        excluded=series.excluded,
        inclusive=True,
        limit=limit,
    )
