"""API shapes of tasks. Validation of shape only; the rules live in services."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from notifications_app.serializers import ReminderInputSerializer, ReminderSerializer
from recurrence_app.serializers import RecurrenceInputSerializer, check_recurrence
from tasks_app.models import Priority, Status, Task
from tasks_app.validation import DESCRIPTION_MAX, MAX_TAGS, TITLE_MAX
from webapp.api.serializers import NamedChoiceField, ReadModelSerializer, StrictSerializer

PRIORITY_NAMES = {member.label: member.value for member in Priority}
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

    title = serializers.CharField(max_length=TITLE_MAX)
    description = serializers.CharField(
        max_length=DESCRIPTION_MAX, allow_blank=True, required=False
    )
    priority = NamedChoiceField(names=PRIORITY_NAMES, required=False)
    tags = serializers.ListField(
        child=serializers.CharField(max_length=32), max_length=MAX_TAGS, required=False
    )
    due_at = serializers.DateTimeField(allow_null=True, required=False)
    reminders = ReminderInputSerializer(many=True, required=False)


class TaskCreateSerializer(TaskWriteSerializer):
    recurrence = RecurrenceInputSerializer(required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("recurrence") and not attrs.get("due_at"):
            raise serializers.ValidationError({"due_at": ["A recurring task needs a due date."]})
        if attrs.get("recurrence"):
            check_recurrence(attrs["recurrence"], dtstart=attrs["due_at"])
        return attrs


class TaskUpdateSerializer(TaskWriteSerializer):
    title = serializers.CharField(max_length=TITLE_MAX, required=False)
    read_only_names: tuple[str, ...] = (*TaskWriteSerializer.read_only_names, "recurrence")


class TaskStatusSerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=Status.choices)
