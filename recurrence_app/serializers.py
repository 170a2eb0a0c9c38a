"""API shapes of recurring series. Shape only; the rules live in rules.py and services.py.

A series edit's `reminders` (templates of reminders, the notifications app's shape) is added
by planning.serializers.SeriesUpdateSerializer."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from recurrence_app.models import Anchor, RecurringSeries
from recurrence_app.rules import MAX_LEAD_TIME
from tasks_app.fields import TagField, TitleField
from tasks_app.models import Priority
from tasks_app.validation import DESCRIPTION_MAX, MAX_TAGS
from webapp.api.serializers import (
    IsoDurationField,
    NamedChoiceField,
    StrictQuerySerializer,
    StrictSerializer,
    TimeZoneField,
)

PRIORITY_NAMES = {member.label: member.value for member in Priority}


class RecurrenceInputSerializer(StrictSerializer):
    rule = serializers.CharField(max_length=500)
    timezone = TimeZoneField(default="UTC")
    anchor = serializers.ChoiceField(choices=Anchor.choices, default=Anchor.DUE)
    lead_time = IsoDurationField(max_days=MAX_LEAD_TIME.days, required=False)


class SeriesSerializer(serializers.ModelSerializer[RecurringSeries]):
    priority = NamedChoiceField(names=PRIORITY_NAMES)
    reminders = serializers.JSONField(source="reminder_templates")
    lead_time = IsoDurationField(max_days=MAX_LEAD_TIME.days, read_only=True)
    excluded = serializers.ListField(child=serializers.DateTimeField())

    class Meta:
        model = RecurringSeries
        fields = [
            "id",
            "title",
            "description",
            "priority",
            "tags",
            "reminders",
            "rule",
            "timezone",
            "dtstart",
            "anchor",
            "lead_time",
            "excluded",
            "status",
            "next_occurrence",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SeriesUpdateSerializer(StrictSerializer):
    read_only_names: tuple[str, ...] = (
        "id",
        "dtstart",
        "excluded",
        "status",
        "next_occurrence",
        "created_at",
        "updated_at",
    )

    title = TitleField(required=False)
    description = serializers.CharField(
        max_length=DESCRIPTION_MAX, allow_blank=True, required=False
    )
    priority = NamedChoiceField(names=PRIORITY_NAMES, required=False)
    tags = serializers.ListField(child=TagField(), max_length=MAX_TAGS, required=False)
    rule = serializers.CharField(max_length=500, required=False)
    timezone = TimeZoneField(required=False)
    anchor = serializers.ChoiceField(choices=Anchor.choices, required=False)
    lead_time = IsoDurationField(max_days=MAX_LEAD_TIME.days, required=False)


class OccurrencesQuerySerializer(StrictQuerySerializer):
    limit = serializers.IntegerField(min_value=1, max_value=100, default=10)


class OccurrencesSerializer(serializers.Serializer[Any]):
    series = serializers.UUIDField()
    occurrences = serializers.ListField(child=serializers.DateTimeField())
