"""`emit`: services call it inside their transaction; the relay publishes after commit."""

from __future__ import annotations

import uuid
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.utils import timezone

from webapp.events.envelope import build_envelope
from webapp.events.models import OutboxEvent
from webapp.events.topics import TOPIC_OF_TYPE


def _json_safe(data: dict[str, Any]) -> dict[str, Any]:
    """Round-trip through Django's encoder so UUIDs, datetimes and decimals become strings."""
    import json

    result: dict[str, Any] = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
    return result


def emit(
    *, topic: str | None = None, type: str, subject: str, data: dict[str, Any], user_id: int
) -> OutboxEvent:
    """Write one CloudEvent to the outbox in the caller's transaction.

    `topic` defaults to the contract's topic for `type`. Must run inside `transaction.atomic`
    so the event commits (or rolls back) with the change it describes.
    """
    connection = transaction.get_connection()
    if not connection.in_atomic_block:
        raise RuntimeError("emit() must be called inside transaction.atomic()")
    resolved_topic = topic or TOPIC_OF_TYPE[type]
    event_id = uuid.uuid4()
    now = timezone.now()
    envelope = build_envelope(
        event_id=event_id,
        type=type,
        subject=subject,
        time=now,
        data=_json_safe(data),
        partition_key=str(user_id),
    )
    # Draw the sequence first so the envelope carries it from the one INSERT (no UPDATE that
    # would rewrite the row and leave a dead tuple behind on every write).
    sequence = _next_sequence(connection)
    envelope["sequence"] = str(sequence)
    row = OutboxEvent.objects.create(
        sequence=sequence,
        event_id=event_id,
        topic=resolved_topic,
        type=type,
        subject=subject,
        user_id=user_id,
        envelope=envelope,
    )
    transaction.on_commit(_relay_after_commit)
    return row


def _next_sequence(connection: BaseDatabaseWrapper) -> int:
    table = OutboxEvent._meta.db_table
    column = OutboxEvent._meta.pk.column
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, %s))", [table, column])
        row = cursor.fetchone()
    if row is None:  # nextval always answers a row; this keeps the type checker honest
        raise RuntimeError("nextval returned no row")
    return int(row[0])


def _relay_after_commit() -> None:
    from webapp.events.runtime import get_runtime

    get_runtime().outbox_committed()
