"""What the web app remembers per user beyond the domain apps' rows."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class FeedMark(models.Model):
    """How far the user has read the in-app feed: notifications above `seen_id` are unread.

    Kept per user, not per session, so reading the feed on the phone clears the count on the
    desktop too. A high-water mark rather than a flag per notification: the feed only grows,
    and opening it reads everything in it.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feed_mark"
    )
    seen_id = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.user_id}: {self.seen_id}"
