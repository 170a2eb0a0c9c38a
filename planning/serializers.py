"""API shapes that span apps: a task with its reminders and recurrence, a series edit with its
reminder templates. Shape only: the services check the rules (a recurring task needs a due
date, the rule must have a future occurrence) and their errors reach the client unchanged."""

from __future__ import annotations

from datetime import datetime

from drf_spectacular.utils import OpenApiExample, extend_schema_serializer
from rest_framework import serializers

from notifications_app.serializers import (
    ReminderInputSerializer,
    ReminderSerializer,
    ReminderTemplateSerializer,
)
from recurrence_app.serializers import RecurrenceInputSerializer
from recurrence_app.serializers import SeriesUpdateSerializer as SeriesFieldsSerializer
from tasks_app.fields import TagField, TitleField
from tasks_app.models import Priority, Task
from tasks_app.validation import DESCRIPTION_MAX, DUE_AT_RANGE, MAX_TAGS, due_at_in_range
from webapp.api.serializers import NamedChoiceField, ReadModelSerializer, StrictSerializer

PRIORITY_NAMES = {member.label: member.value for member in Priority}


def _check_due_at(value: datetime) -> None:
    if not due_at_in_range(value):
        raise serializers.ValidationError(f"The due date must be {DUE_AT_RANGE}.")


READ_ONLY = ("id", "status", "completed_at", "series", "is_exception", "created_at", "updated_at")


class TaskSerializer(ReadModelSerializer[Task]):
    priority = NamedChoiceField(names=PRIORITY_NAMES)
    reminders = ReminderSerializer(many=True, read_only=True, source="reminders_shown")

    class Meta:
        model = Task
        fields = [
            "id",
            "title",
            "description",
            "status",
            "priority",
            "tags",
            "due_at",
            "completed_at",
            "series",
            "occurrence",
            "is_exception",
            "reminders",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class TaskWriteSerializer(StrictSerializer):
    read_only_names: tuple[str, ...] = (*READ_ONLY, "occurrence")

    title = TitleField()
    description = serializers.CharField(
        max_length=DESCRIPTION_MAX, allow_blank=True, required=False
    )
    priority = NamedChoiceField(names=PRIORITY_NAMES, required=False)
    tags = serializers.ListField(child=TagField(), max_length=MAX_TAGS, required=False)
    due_at = serializers.DateTimeField(
        allow_null=True,
        required=False,
        validators=[_check_due_at],
        # OpenAPI 3.0 has no bounds for date-times: the range goes into the description.
        help_text=f"Due time, {DUE_AT_RANGE}.",
    )
    reminders = ReminderInputSerializer(many=True, required=False)


@extend_schema_serializer(
    examples=[
        OpenApiExample(
            "A recurring task with a reminder",
            request_only=True,
            value={
                "title": "Standup",
                "priority": "high",
                "tags": ["work"],
                "due_at": "2031-01-06T09:00:00Z",
                "recurrence": {
                    "rule": "FREQ=WEEKLY;BYDAY=MO,WE,FR",
                    "timezone": "Europe/Berlin",
                    "anchor": "due",
                    "lead_time": "PT15M",
                },
                "reminders": [{"before": "PT10M"}],
            },
        ),
        OpenApiExample(
            "A one-off task",
            request_only=True,
            value={"title": "Pay rent", "tags": ["home"], "due_at": "2031-01-01T09:00:00Z"},
        ),
    ]
)
class TaskCreateSerializer(TaskWriteSerializer):
    recurrence = RecurrenceInputSerializer(required=False)


class TaskUpdateSerializer(TaskWriteSerializer):
    title = TitleField(required=False)
    read_only_names: tuple[str, ...] = (*TaskWriteSerializer.read_only_names, "recurrence")


class SeriesUpdateSerializer(SeriesFieldsSerializer):
    reminders = ReminderTemplateSerializer(many=True, required=False)
