"""`emit`: services call it inside their transaction; the relay publishes after commit.

`emit_many` writes a batch (a storm of recurring instances, a burst of reminders) with two
statements instead of two per event.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from webapp.events.envelope import build_envelope
from webapp.events.models import OutboxEvent
from webapp.events.topics import TOPIC_OF_TYPE


@dataclass(frozen=True)
class Event:
    """One event for `emit_many`; the arguments of `emit`."""

    type: str
    subject: str
    data: dict[str, Any]
    user_id: int
    topic: str | None = None


def emit(
    *, topic: str | None = None, type: str, subject: str, data: dict[str, Any], user_id: int
) -> OutboxEvent:
    """Write one CloudEvent to the outbox in the caller's transaction.

    `topic` defaults to the contract's topic for `type`. Must run inside `transaction.atomic`
    so the event commits (or rolls back) with the change it describes. One statement: the
    sequence is drawn inside the INSERT, which also writes it into the envelope, so an event
    costs one round trip (the ORM's create would take two, and an UPDATE a dead tuple).
    """
    connection = _atomic_connection()
    now = timezone.now()
    event = Event(type=type, subject=subject, data=data, user_id=user_id, topic=topic)
    fields = _row(event, sequence=0, now=now)
    encoded = json.dumps(fields["envelope"], cls=DjangoJSONEncoder)
    with connection.cursor() as cursor:
        cursor.execute(
            _EMIT_ONE_SQL,
            [
                fields["event_id"],
                fields["topic"],
                fields["type"],
                fields["subject"],
                user_id,
                encoded,
                now,
            ],
        )
        (sequence,) = cursor.fetchone()
    transaction.on_commit(_relay_after_commit)
    # The row as the database holds it (strings, not UUIDs or datetimes, in the envelope),
    # built here rather than read back.
    fields["envelope"] = json.loads(encoded)
    fields["envelope"]["sequence"] = str(sequence)
    return OutboxEvent(
        **{**fields, "sequence": sequence},
        created_at=now,
        publish_attempts=0,
        last_error="",
    )


_TABLE = OutboxEvent._meta.db_table
# Names come from the model; values are bound.
_EMIT_ONE_SQL = (
    f"INSERT INTO {_TABLE} (sequence, event_id, topic, type, subject, user_id, envelope, "  # noqa: S608
    "created_at, publish_attempts, last_error) "
    "SELECT s.seq, %s, %s, %s, %s, %s, "
    "jsonb_set(%s::jsonb, '{sequence}', to_jsonb(s.seq::text)), %s, 0, '' "
    f"FROM (SELECT nextval(pg_get_serial_sequence('{_TABLE}', "
    f"'{OutboxEvent._meta.pk.column}')) AS seq) AS s RETURNING sequence"
)


def emit_many(events: Sequence[Event]) -> None:
    """Write `events` to the outbox in the caller's transaction, in the order given.

    The same rows `emit` writes, with every sequence number drawn in one round trip and every
    row inserted by one statement from a single JSON document.
    """
    if not events:
        return
    connection = _atomic_connection()
    sequences = _next_sequences(connection, len(events))
    now = timezone.now()
    rows = [
        _row(event, sequence=seq, now=now) for seq, event in zip(sequences, events, strict=True)
    ]
    table = OutboxEvent._meta.db_table
    # Names come from the model; values are bound.
    sql = (
        f"INSERT INTO {table} (sequence, event_id, topic, type, subject, user_id, envelope, "  # noqa: S608
        "created_at, publish_attempts, last_error) "
        "SELECT u.sequence, u.event_id, u.topic, u.type, u.subject, u.user_id, u.envelope, "
        "%s, 0, '' FROM jsonb_to_recordset(%s::jsonb) AS u(sequence bigint, event_id uuid, "
        "topic text, type text, subject text, user_id integer, envelope jsonb) "
        "ORDER BY u.sequence"
    )
    with connection.cursor() as cursor:
        # One JSON document for the batch, so the data is encoded once, as `emit` encodes it.
        cursor.execute(sql, [now, json.dumps(rows, cls=DjangoJSONEncoder)])
    transaction.on_commit(_relay_after_commit)


def _row(event: Event, *, sequence: int, now: datetime) -> dict[str, Any]:
    """The outbox row's fields for `event`, its envelope carrying `sequence`."""
    event_id = uuid.uuid4()
    envelope = build_envelope(
        event_id=event_id,
        type=event.type,
        subject=event.subject,
        time=now,
        data=event.data,
        partition_key=str(event.user_id),
    )
    envelope["sequence"] = str(sequence)
    return {
        "sequence": sequence,
        "event_id": event_id,
        "topic": event.topic or TOPIC_OF_TYPE[event.type],
        "type": event.type,
        "subject": event.subject,
        "user_id": event.user_id,
        "envelope": envelope,
    }


def _atomic_connection() -> BaseDatabaseWrapper:
    connection: BaseDatabaseWrapper = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("events must be emitted inside transaction.atomic()")
    return connection


def _next_sequences(connection: BaseDatabaseWrapper, count: int) -> list[int]:
    """`count` numbers of the outbox sequence, ascending, in one round trip."""
    table = OutboxEvent._meta.db_table
    column = OutboxEvent._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
            [table, column, count],
        )
        return sorted(int(row[0]) for row in cursor.fetchall())


def _relay_after_commit() -> None:
    from webapp.events.runtime import get_runtime

    get_runtime().outbox_committed()
