"""Writes of the web app's own rows; domain writes go through the domain apps' services."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models.functions import Greatest

from dashboard_app.models import FeedMark


@transaction.atomic
def feed_mark_seen(*, user: User, up_to: int) -> None:
    """Mark the in-app feed read up to notification `up_to`; the mark never moves back.

    Greatest() in the UPDATE keeps it monotonic when two devices mark at once.
    """
    mark, created = FeedMark.objects.get_or_create(user=user, defaults={"seen_id": up_to})
    if not created:
        FeedMark.objects.filter(pk=mark.pk).update(seen_id=Greatest("seen_id", up_to))
