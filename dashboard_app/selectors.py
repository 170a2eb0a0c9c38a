"""Reads of the web app's own rows, combined with the domain apps' selectors."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import timezone

from dashboard_app.models import FeedMark
from notifications_app.models import Channel, Notification
from notifications_app.selectors import notification_list
from recurrence_app.rules import RecurrenceError, occurrences_after, zone
from recurrence_app.services import validate_recurrence, whole_seconds
from webapp.events.models import OutboxEvent


def in_app_feed(*, user: User) -> QuerySet[Notification]:
    return notification_list(user=user, channel=Channel.IN_APP)


def unread_count(*, user: User) -> int:
    seen = FeedMark.objects.filter(user=user).values_list("seen_id", flat=True).first() or 0
    return in_app_feed(user=user).filter(id__gt=seen).count()


def feed_position(*, user: User) -> int:
    """The position of the user's latest event: a page rendered now shows everything up to it,
    so its event stream starts after it (without `after` the stream replays the whole feed).

    Read before the page's data, so an event committed in between is pushed, not lost (at
    worst a fragment is re-read once for nothing).
    """
    latest = (
        OutboxEvent.objects.filter(user_id=user.pk)
        .order_by("-sequence")
        .values_list("sequence", flat=True)
        .first()
    )
    return latest or 0


def rule_preview(
    *, rule: str, zone_name: str, anchor: str, first: datetime, limit: int
) -> tuple[list[datetime], str | None]:
    """The next `limit` occurrences (UTC) of a rule not saved yet, first due at `first`, or the
    message of the check it fails.

    The checks are those of creating the series (validate_recurrence), so a rule the preview
    accepts is one the API accepts. recurrence_app has occurrences only for a saved series;
    this belongs beside them if another client wants it.
    """
    now = timezone.now()
    start = whole_seconds(first)
    try:
        parsed = validate_recurrence(
            rule=rule,
            timezone_name=zone_name,
            anchor=anchor,
            lead_time=timedelta(0),
            dtstart=start,
            now=now,
        )
    except RecurrenceError as exc:
        return [], exc.message
    except ValidationError as exc:
        return [], " ".join(exc.messages)
    moments = occurrences_after(
        rule=parsed, tz=zone(zone_name), dtstart=start, after=now, inclusive=True, limit=limit
    )
    return moments, None
