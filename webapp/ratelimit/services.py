"""Rate limits shared by every process on one database: one atomic statement per check.

Each key (`throttle_user_42`, `throttle_auth_203.0.113.7`) has a row with the hits allowed in
the current fixed window and in the one before. A request is allowed while

    previous_hits * (1 - elapsed / period) + hits + 1 <= limit

(Cloudflare's sliding-window estimate: a fixed window's burst at its edge cannot double the
rate, and two integers per key are the whole state). Only allowed hits count, as in DRF's own
throttles, so a client that waits for Retry-After is let in then. The check and the increment
are one INSERT ... ON CONFLICT DO UPDATE, which PostgreSQL runs on the locked, latest row, so
however many processes and threads hit one key at once, no more than `limit` get through.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.db import connection
from django.utils import timezone

# A rate of "off" lifts a limit (load tests): nothing is counted.
OFF = "off"
# DRF's rate format: "100/minute", "5/s", "1000/hour", "10/day" (only the first letter counts).
PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
# How often one process deletes expired rows: often enough that the table holds about the keys
# active in the last two periods, seldom enough that 50 replicas' deletes cost nothing.
PRUNE_INTERVAL_SECONDS = 300.0


@dataclass(frozen=True)
class Rate:
    limit: int
    period: int  # seconds

    @classmethod
    def parse(cls, rate: str) -> Rate | None:
        """`"100/minute"` -> Rate(100, 60); `"off"` -> None. A malformed rate is a ValueError."""
        if rate.strip().lower() == OFF:
            return None
        count, _, unit = rate.partition("/")
        period = PERIODS.get(unit.strip()[:1].lower())
        if not count.strip().isdigit() or period is None:
            raise ValueError(f"a rate is N/second, N/minute, N/hour, N/day or off, not {rate!r}")
        return cls(limit=int(count), period=period)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    # Seconds until a request for the key would be allowed: 0 when this one was, else > 0.
    retry_after: float


# The sub-select reads the row as it was before this statement (every SET expression does),
# so the decision and the new counts come from one consistent, locked row. A row whose window
# is ahead of ours (another replica's clock is a little ahead) is taken as the current window,
# never reset. The 1e-9 absorbs the float error of the weight (3 x 2/3 is 2.0000000000000004).
_HIT = """
INSERT INTO ratelimit_counter AS c (key, window_start, hits, previous_hits, allowed, expires_at)
VALUES (%(key)s, %(start)s, LEAST(1, %(limit)s), 0, %(limit)s >= 1, %(expires)s)
ON CONFLICT (key) DO UPDATE SET (window_start, expires_at, previous_hits, hits, allowed) = (
    SELECT start, expires, prev, cur + ok::int, ok
    FROM (
        SELECT s.*, s.prev * %(weight)s + s.cur + 1 <= %(limit)s + 1e-9 AS ok
        FROM (
            SELECT
                GREATEST(c.window_start, EXCLUDED.window_start) AS start,
                GREATEST(c.expires_at, EXCLUDED.expires_at) AS expires,
                CASE WHEN c.window_start >= EXCLUDED.window_start THEN c.hits ELSE 0 END AS cur,
                CASE
                    WHEN c.window_start >= EXCLUDED.window_start THEN c.previous_hits
                    WHEN c.window_start = %(previous_start)s THEN c.hits
                    ELSE 0
                END AS prev
        ) AS s
    ) AS d
)
RETURNING window_start, hits, previous_hits, allowed
"""

_PRUNE = "DELETE FROM ratelimit_counter WHERE expires_at < %s"

_prune_lock = threading.Lock()
_last_prune = 0.0


def hit(*, key: str, rate: str | Rate | None) -> Decision:
    """Count one request for `key` against `rate` ("100/minute", "off") unless it is over.

    Shared by every process and replica on the database. Call it outside a transaction: in
    one, the key's row stays locked until commit and the key's other requests wait for it.
    """
    if isinstance(rate, str):
        rate = Rate.parse(rate)
    if rate is None:
        return Decision(allowed=True, retry_after=0.0)
    now = timezone.now()
    epoch = now.timestamp()
    start_epoch = epoch - epoch % rate.period
    start = datetime.fromtimestamp(start_epoch, tz=UTC)
    period = timedelta(seconds=rate.period)
    params: dict[str, str | int | float | datetime] = {
        "key": key,
        "limit": rate.limit,
        "start": start,
        "previous_start": start - period,
        "expires": start + 2 * period,
        "weight": 1.0 - (epoch - start_epoch) / rate.period,
    }
    with connection.cursor() as cursor:
        cursor.execute(_HIT, params)
        row_start, hits, previous_hits, allowed = cursor.fetchone()
    _prune_now_and_then(now)
    if allowed:
        return Decision(allowed=True, retry_after=0.0)
    elapsed = min(max((now - row_start).total_seconds(), 0.0), float(rate.period))
    wait = _wait(rate, elapsed=elapsed, hits=hits, previous_hits=previous_hits)
    # Never 0 for a refusal (float noise at the very edge): Retry-After rounds up to 1 s.
    return Decision(allowed=False, retry_after=max(wait, 0.001))


def _wait(rate: Rate, *, elapsed: float, hits: int, previous_hits: int) -> float:
    """Seconds from `elapsed` into the window until the estimate leaves room for one more."""
    limit, period = rate.limit, float(rate.period)
    if limit < 1:
        return period - elapsed + period
    room = limit - hits - 1  # what the previous window's decaying share must shrink to
    if room >= 0 and previous_hits > 0:
        at = period * (1 - room / previous_hits)
        if at < period:
            return max(at - elapsed, 0.0)
    # Next window: this window's hits become the decaying share.
    at_next = max(period * (1 - (limit - 1) / hits), 0.0) if hits else 0.0
    return period - elapsed + at_next


def _prune_now_and_then(now: datetime) -> None:
    global _last_prune
    tick = time.monotonic()
    if tick - _last_prune < PRUNE_INTERVAL_SECONDS or not _prune_lock.acquire(blocking=False):
        return
    try:
        _last_prune = tick
        counters_prune(now=now)
    finally:
        _prune_lock.release()


def counters_prune(*, now: datetime | None = None) -> int:
    """Delete every expired counter now; the number deleted."""
    with connection.cursor() as cursor:
        cursor.execute(_PRUNE, [now or timezone.now()])
        return int(cursor.rowcount)
