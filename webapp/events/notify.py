"""The wake-up of the event stream: a NOTIFY per relay pass, one LISTEN per web process.

The relay announces the rows it picks up, committed by then, with
`pg_notify(STREAM_CHANNEL, '<user id>:<sequence>')`, one notification per user per pass
(`announce`). A listener that reads the feed after a notification therefore sees the event.

Why at the relay and not in the statement that writes the event: a transaction that notifies
takes PostgreSQL's notify-queue lock for the length of its commit, WAL flush included, so
notifying commits are serialised with one another (webapp/events/wakeup.py measured task
creates under pgbench drop from 5,200 to 3,500 a second at 8 clients). The relay notifies
once per pass in its own short transaction, so the API's commits keep their group commit; the
stream pays the relay's wake-up (a datagram or the runtime's own signal, milliseconds). It
needs nothing beyond the database every shape already has, and every runtime has a relay.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import psycopg
from django.db import connection, connections

from webapp.events.models import OutboxEvent

logger = logging.getLogger(__name__)

STREAM_CHANNEL = "todo_events"
# Connections a web process holds outside its pool once it serves a stream: the LISTEN
# connection and the one holding the per-user stream slots (stream_slots.py).
STREAM_CONNECTIONS_PER_PROCESS = 2
# Seconds between attempts to (re)connect the listening connection.
RECONNECT_SECONDS = 1.0
# Shown in pg_stat_activity: one per web process that has served a stream.
LISTENER_APPLICATION_NAME = "todo-web-stream"
# What the listener copies from Django's connection settings (the rest, such as the pool
# options and Django's cursor class, belongs to Django's own connections).
_CONNECT_KEYS = ("dbname", "user", "password", "host", "port", "sslmode", "sslrootcert")


def announce(rows: Iterable[OutboxEvent]) -> None:
    """Wake the event streams for committed `rows`: one notification per user, its latest."""
    latest: dict[int, int] = {}
    for row in rows:
        if row.user_id is not None:
            latest[row.user_id] = max(latest.get(row.user_id, 0), row.sequence)
    if not latest:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_notify(%s, t.user_id::text || ':' || t.sequence::text) "
            "FROM unnest(%s::integer[], %s::bigint[]) AS t(user_id, sequence)",
            [STREAM_CHANNEL, list(latest), list(latest.values())],
        )


def parse_payload(payload: str) -> tuple[int, int] | None:
    """`(user id, sequence)` from a notification's payload; None for anything else."""
    user, _, sequence = payload.partition(":")
    try:
        return int(user), int(sequence)
    except ValueError:
        return None


def listener_params() -> dict[str, Any]:
    """Connection keywords for the listening connection: Django's database, no pool."""
    params = connections["default"].get_connection_params()
    chosen = {key: params[key] for key in _CONNECT_KEYS if params.get(key) not in (None, "")}
    chosen["application_name"] = LISTENER_APPLICATION_NAME
    return chosen


class FeedListener:
    """Holds the process's one LISTEN connection and reports what it hears.

    `on_notify(user_id, sequence)` runs for each committed event; `on_connected()` runs each
    time LISTEN takes effect, so the caller can re-read whatever committed while no one was
    listening (at start, or during a reconnect after the database went away).
    """

    def __init__(
        self,
        *,
        on_notify: Callable[[int, int], None],
        on_connected: Callable[[], None],
        connect: Callable[[], Awaitable[psycopg.AsyncConnection[Any]]] | None = None,
    ) -> None:
        self.on_notify = on_notify
        self.on_connected = on_connected
        self._connect = connect or self._connect_default
        self.connected = asyncio.Event()

    @staticmethod
    async def _connect_default() -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(autocommit=True, **listener_params())

    async def run(self) -> None:
        """Listen until cancelled, reconnecting after any failure."""
        while True:
            try:
                await self._listen_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                logger.warning(
                    "event stream listener lost; reconnecting", extra={"error": repr(exc)}
                )
            self.connected.clear()
            await asyncio.sleep(RECONNECT_SECONDS)

    async def _listen_once(self) -> None:
        conn = await self._connect()
        try:
            await conn.execute(f"LISTEN {STREAM_CHANNEL}")
            self.connected.set()
            self.on_connected()
            async for notification in conn.notifies():
                parsed = parse_payload(notification.payload)
                if parsed is not None:
                    self.on_notify(*parsed)
        finally:
            with contextlib.suppress(Exception):
                await conn.close()
