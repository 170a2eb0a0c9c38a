"""The counters behind every rate limit, one row per key (a user, a client address)."""

from __future__ import annotations

from django.db import models


class RateCounter(models.Model):
    """A sliding-window counter: this window's allowed hits and the previous window's.

    Written only by `services.hit` in one atomic upsert. The table is UNLOGGED (migration
    0002): counters lost in a database crash only forgive a minute of requests, and skipping
    the write-ahead log makes the write that every API request costs cheaper.
    """

    key = models.TextField(primary_key=True)
    window_start = models.DateTimeField()
    hits = models.PositiveIntegerField()
    previous_hits = models.PositiveIntegerField()
    # Whether the latest hit was allowed: the upsert decides it from the row as it was, which
    # RETURNING cannot show, so it leaves the decision here.
    allowed = models.BooleanField()
    # Two windows after window_start the row says nothing any more; pruning deletes it.
    expires_at = models.DateTimeField()

    class Meta:
        db_table = "ratelimit_counter"

    def __str__(self) -> str:
        return f"{self.key}: {self.hits} (+{self.previous_hits} before)"
