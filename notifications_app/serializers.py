"""API shapes of reminders."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from notifications_app.models import Channel, Reminder
from webapp.api.serializers import StrictSerializer


class ReminderInputSerializer(StrictSerializer):
    before = serializers.DurationField(required=False)
    at = serializers.DateTimeField(required=False)
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=Channel.choices), required=False, allow_empty=False
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("before" in attrs) == ("at" in attrs):
            raise serializers.ValidationError("Give exactly one of 'before' or 'at'.")
        return attrs


class ReminderSerializer(serializers.ModelSerializer[Reminder]):
    class Meta:
        model = Reminder
        fields = ["id", "before", "at", "channels", "fire_at", "status"]
        read_only_fields = fields
