"""Wire shapes of the change feed: query parameters in, CloudEvents envelopes out."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from webapp.api.serializers import StrictQuerySerializer
from webapp.events.models import OutboxEvent
from webapp.events.selectors import FEED_DEFAULT_LIMIT, FEED_MAX_LIMIT
from webapp.events.topics import TOPIC_OF_TYPE


class EventFeedQuerySerializer(StrictQuerySerializer):
    after = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(
        min_value=1, max_value=FEED_MAX_LIMIT, default=FEED_DEFAULT_LIMIT
    )


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "nullable": True}


_TEXT = {"type": "string"}
_TIME = {"type": "string", "format": "date-time"}
_UUID = {"type": "string", "format": "uuid"}
_PRIORITY = {"type": "string", "enum": ["low", "medium", "high", "urgent"]}
_TAGS = {"type": "array", "items": _TEXT}
_CHANGE = {
    "type": "object",
    "properties": {"old": {"nullable": True}, "new": {"nullable": True}},
}

# What `data` holds, by event type (the event contract, docs/ and ARCHITECTURE.md): the task
# after the change for todo.task.*, plus `changes` for todo.task.updated.v1; the series for
# todo.series.*; the reminder and its task's id for todo.reminder.fired.v1; the delivery for
# todo.notification.*. New keys may appear within a version: consumers ignore unknown ones.
EVENT_DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "task": {
            "type": "object",
            "description": "the task after the change (only `id` in todo.reminder.fired.v1)",
            "properties": {
                "id": _UUID,
                "user_id": {"type": "integer"},
                "title": _TEXT,
                "description": _TEXT,
                "status": {"type": "string", "enum": ["pending", "completed"]},
                "priority": _PRIORITY,
                "tags": _TAGS,
                "due_at": _nullable(_TIME),
                "completed_at": _nullable(_TIME),
                "series": _nullable(_UUID),
                "occurrence": _nullable(_TIME),
                "is_exception": {"type": "boolean"},
                "created_at": _TIME,
                "updated_at": _TIME,
            },
            "required": ["id"],
        },
        "changes": {
            "type": "object",
            "description": "todo.task.updated.v1: each changed field's old and new value "
            "(for reminders both are null: read the task's reminders)",
            "properties": {
                field: _CHANGE
                for field in ("title", "description", "priority", "tags", "due_at", "reminders")
            },
        },
        "series": {
            "type": "object",
            "properties": {
                "id": _UUID,
                "user_id": {"type": "integer"},
                "title": _TEXT,
                "description": _TEXT,
                "priority": _PRIORITY,
                "tags": _TAGS,
                "reminders": {"type": "array", "items": {"type": "object"}},
                "rule": _TEXT,
                "timezone": _TEXT,
                "dtstart": _TIME,
                "anchor": {"type": "string", "enum": ["due", "completion"]},
                "lead_time": _TEXT,
                "excluded": {"type": "array", "items": _TIME},
                "status": _TEXT,
                "next_occurrence": _nullable(_TIME),
                "created_at": _TIME,
                "updated_at": _TIME,
            },
            "required": ["id"],
        },
        "reminder": {
            "type": "object",
            "properties": {
                "id": _UUID,
                "task_id": _UUID,
                "before": _nullable({"type": "number", "description": "seconds"}),
                "at": _nullable(_TIME),
                "channels": _TAGS,
                "fire_at": _nullable(_TIME),
                "fired_at": _nullable(_TIME),
                "status": _TEXT,
            },
            "required": ["id"],
        },
        "notification": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "user_id": {"type": "integer"},
                "reminder_id": _nullable(_UUID),
                "task_id": _nullable(_UUID),
                "channel": _TEXT,
                "status": _TEXT,
                "attempts": {"type": "integer"},
                "error": _TEXT,
                "created_at": _TIME,
                "sent_at": _nullable(_TIME),
            },
            "required": ["id"],
        },
    },
}


@extend_schema_field(EVENT_DATA_SCHEMA)
class EventDataField(serializers.JSONField):
    """An event's `data`, described by the event contract."""


class EventSerializer(serializers.Serializer[OutboxEvent]):
    """A CloudEvents 1.0 structured envelope, exactly as it was published."""

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # Declared here rather than as class attributes: `source` and `data` would shadow
        # attributes every DRF serializer field and serializer has.
        return {
            "specversion": serializers.CharField(),
            "id": serializers.UUIDField(),
            "source": serializers.CharField(),
            "type": serializers.ChoiceField(choices=sorted(TOPIC_OF_TYPE)),
            "subject": serializers.CharField(),
            "time": serializers.DateTimeField(),
            "datacontenttype": serializers.CharField(),
            "data": EventDataField(),
            "partitionkey": serializers.CharField(help_text="the user id"),
            "sequence": serializers.CharField(help_text="the outbox sequence number, as a string"),
        }

    def to_representation(self, instance: OutboxEvent) -> dict[str, Any]:
        # The stored envelope is the published one; re-rendering field by field could drift.
        envelope: dict[str, Any] = dict(instance.envelope)
        envelope.setdefault("sequence", str(instance.sequence))
        return envelope


class EventFeedSerializer(serializers.Serializer[Any]):
    results = EventSerializer(many=True)
    next_after = serializers.IntegerField(
        help_text="pass as `after` to read on; the given `after` when there is nothing new"
    )
