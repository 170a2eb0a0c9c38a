"""Reads of the event tables: the per-user change feed and dead letters awaiting replay."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.db import connection
from django.db.models import QuerySet

from webapp.events.models import DeadLetter, OutboxEvent

FEED_DEFAULT_LIMIT = 100
FEED_MAX_LIMIT = 500
# How long a feed read waits for writers that were mid-transaction when it started.
FEED_SETTLE_SECONDS = 2.0
_SETTLE_POLL_SECONDS = 0.005

_TABLE = OutboxEvent._meta.db_table
_COLUMN = OutboxEvent._meta.pk.column
# The last outbox number drawn by anyone, committed or not (0 before the first).
_LAST_DRAWN_SQL = (
    "SELECT coalesce(pg_sequence_last_value(pg_get_serial_sequence(%s, %s)::regclass), 0)"
)
# Transactions that may hold an outbox number they have not committed: those with an xid, and
# those running a statement (emit draws its number inside the INSERT, before the xid exists).
# Keyed by (pid, xact_start), so a backend that moved on to another transaction drops out. The
# feed's database role sees these columns for sessions of the same role (or pg_read_all_stats).
_WRITERS_SQL = (
    "SELECT coalesce(array_agg(pid), '{}'), coalesce(array_agg(xact_start), '{}') "
    "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
    "AND xact_start IS NOT NULL AND (backend_xid IS NOT NULL OR state = 'active')"
)
_STILL_RUNNING_SQL = (
    "SELECT count(*) FROM pg_stat_activity AS a "
    "JOIN unnest(%s::int[], %s::timestamptz[]) AS w(pid, xact_start) "
    "ON a.pid = w.pid AND a.xact_start = w.xact_start"
)


def _settled_horizon() -> int | None:
    """A sequence number at or below which every event has either committed or is gone for good;
    None if writers in flight did not finish within FEED_SETTLE_SECONDS.

    Numbers are drawn inside the INSERT (outbox.emit), so they commit out of order: 912 can be
    visible while 911's transaction still runs. Every number up to the last one drawn belongs
    to a transaction that has ended or is among the writers listed right after; once those end,
    nothing can appear at or below it any more. Writers commit in milliseconds, so the wait is
    short; a writer stuck longer makes the page empty (read again later), never incomplete.
    """
    with connection.cursor() as cursor:
        cursor.execute(_LAST_DRAWN_SQL, [_TABLE, _COLUMN])
        (horizon,) = cursor.fetchone()
        cursor.execute(_WRITERS_SQL)
        pids, starts = cursor.fetchone()
        deadline = time.monotonic() + FEED_SETTLE_SECONDS
        while pids:
            if connection.in_atomic_block:  # else the transaction keeps its first reading
                cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(_STILL_RUNNING_SQL, [pids, starts])
            (running,) = cursor.fetchone()
            if not running:
                break
            if time.monotonic() > deadline:
                return None
            time.sleep(_SETTLE_POLL_SECONDS)
    return int(horizon)


def event_feed(
    *, user: AbstractBaseUser, after: int = 0, limit: int = FEED_DEFAULT_LIMIT
) -> list[OutboxEvent]:
    """The user's own events with a sequence above `after`, oldest first, stopping where an
    event might still commit below a number already handed out: a reader that follows the last
    sequence it saw reads every event once, in order.
    """
    horizon = _settled_horizon()
    if horizon is None or horizon <= after:
        return []
    return list(
        OutboxEvent.objects.filter(
            user_id=user.pk, sequence__gt=after, sequence__lte=horizon
        ).order_by("sequence")[:limit]
    )


def event_feeds(
    *, positions: Collection[tuple[int, int]], limit: int = FEED_DEFAULT_LIMIT
) -> dict[tuple[int, int], list[OutboxEvent]]:
    """`event_feed` for many readers at once, keyed by `(user id, after)`: each list holds what
    `event_feed(user=..., after=after, limit=limit)` would, from one settling wait and one
    query. The event stream serves every wake-up of a web process this way.
    """
    feeds: dict[tuple[int, int], list[OutboxEvent]] = {key: [] for key in positions}
    horizon = _settled_horizon()
    wanted = [key for key in feeds if horizon is not None and key[1] < horizon]
    if not wanted:
        return feeds
    rows = OutboxEvent.objects.raw(
        "SELECT r.reader_user AS reader_user, r.reader_after AS reader_after, e.* "  # noqa: S608
        "FROM unnest(%s::bigint[], %s::bigint[]) AS r(reader_user, reader_after) "
        f"CROSS JOIN LATERAL (SELECT * FROM {_TABLE} AS o WHERE o.user_id = r.reader_user "
        "AND o.sequence > r.reader_after AND o.sequence <= %s ORDER BY o.sequence LIMIT %s) "
        "AS e ORDER BY e.sequence",
        [[user for user, _ in wanted], [after for _, after in wanted], horizon, limit],
    )
    for event in rows:
        # The reader's columns arrive as attributes of the row (raw() keeps unknown columns).
        reader = (getattr(event, "reader_user"), getattr(event, "reader_after"))  # noqa: B009
        feeds[reader].append(event)
    return feeds


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
