"""The per-user cap on event streams, across every web process and replica.

A user's open streams land on whichever worker the kernel or the load balancer picks, so a
count kept in one process would let a user hold the cap in each of them. Each stream instead
holds one of the user's EVENT_STREAM_MAX_PER_USER slots as a PostgreSQL advisory lock, taken
on one connection per process. PostgreSQL frees a dead process's slots with its connection,
so a crash never leaves a user locked out.

Advisory locks are re-entrant within a session, so the process keeps its own slots in memory
and only asks PostgreSQL for one it does not hold. Should the connection drop, its slots are
freed while their streams stay open: until those end, the user may open up to the cap again.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import psycopg

from webapp.events.notify import listener_params

# Slots are advisory locks (user id, SLOT_KEY_BASE + slot number): the two-integer key space,
# apart from the single-key locks the rest of the platform takes.
SLOT_KEY_BASE = 1_000_000_000


class UserSlots:
    def __init__(self) -> None:
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._generation = 0
        self._held: dict[int, set[int]] = {}
        self._lock = asyncio.Lock()

    async def acquire(self, user_id: int, cap: int) -> tuple[int, int] | None:
        """A free slot of the user's as `(slot, generation)`, or None when all are taken."""
        async with self._lock:
            conn = await self._connection()
            held = self._held.setdefault(user_id, set())
            try:
                for slot in range(cap):
                    if slot in held:
                        continue
                    cursor = await conn.execute(
                        "SELECT pg_try_advisory_lock(%s, %s)", [user_id, SLOT_KEY_BASE + slot]
                    )
                    row = await cursor.fetchone()
                    if row and row[0]:
                        held.add(slot)
                        return slot, self._generation
            except psycopg.Error:
                await self._drop()
                raise
            finally:
                if not self._held.get(user_id):
                    self._held.pop(user_id, None)
            return None

    async def release(self, user_id: int, slot: int, generation: int) -> None:
        async with self._lock:
            if generation != self._generation or self._conn is None:
                return  # the connection that held it is gone, and the lock with it
            self._held.get(user_id, set()).discard(slot)
            if not self._held.get(user_id):
                self._held.pop(user_id, None)
            try:
                await self._conn.execute(
                    "SELECT pg_advisory_unlock(%s, %s)", [user_id, SLOT_KEY_BASE + slot]
                )
            except psycopg.Error:
                await self._drop()

    async def aclose(self) -> None:
        async with self._lock:
            await self._drop()

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._held.clear()
            self._generation += 1
            self._conn = await psycopg.AsyncConnection.connect(autocommit=True, **listener_params())
        return self._conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        self._held.clear()
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
