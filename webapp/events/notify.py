"""LISTEN for the outbox and job notifications that triggers send at commit (migration 0002).

The process that runs the local runtime is not the one that serves requests (`manage.py
serve` runs the web app in worker processes), so an in-process "wake up" after commit cannot
reach its relay and timer. PostgreSQL can: a trigger NOTIFYs on every insert, the listener
below wakes the thread that cares. One connection per runtime, outside Django's (it sits idle
in LISTEN, and must not count against a request pool). The relay and timer still tick, so a
notification lost while the listener reconnects delays work by a tick, never loses it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import psycopg
from django.conf import settings

logger = logging.getLogger(__name__)

OUTBOX_CHANNEL = "todo_outbox"
JOBS_CHANNEL = "todo_jobs"
# How often the listener looks at its stop flag while no notification arrives.
POLL_SECONDS = 0.5
RECONNECT_SECONDS = 2.0


def listener_connection_params() -> dict[str, Any]:
    """psycopg.connect() keywords for the default database, from Django's settings."""
    database: dict[str, Any] = settings.DATABASES["default"]
    options = {key: value for key, value in database["OPTIONS"].items() if key != "pool"}
    params: dict[str, Any] = {
        "dbname": database["NAME"],
        "user": database["USER"],
        "password": database["PASSWORD"],
        "host": database["HOST"],
        "port": database["PORT"],
        **options,
        "application_name": f"{options.get('application_name', 'todo')}-listener",
    }
    return {key: value for key, value in params.items() if value not in ("", None)}


def listen(
    wakers: Mapping[str, Callable[[], None]],
    *,
    stopping: threading.Event,
    connect: Callable[[], psycopg.Connection[Any]] | None = None,
) -> None:
    """Call `wakers[channel]()` for each notification until `stopping` is set.

    After each (re)connection every waker is called once: whatever was notified while the
    listener was away is picked up then.
    """
    open_connection = connect or (
        lambda: psycopg.connect(**listener_connection_params(), autocommit=True)
    )
    while not stopping.is_set():
        try:
            with open_connection() as conn:
                for channel in wakers:
                    conn.execute(f"LISTEN {channel}")
                for wake in wakers.values():
                    wake()
                while not stopping.is_set():
                    for notification in conn.notifies(timeout=POLL_SECONDS):
                        waker = wakers.get(notification.channel)
                        if waker is not None:
                            waker()
        except psycopg.Error as exc:
            logger.warning("notification listener lost its connection", extra={"error": repr(exc)})
            stopping.wait(RECONNECT_SECONDS)
