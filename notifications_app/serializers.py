"""API shapes of reminders, notifications, devices and notification settings."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rest_framework import serializers

from notifications_app.models import (
    Channel,
    Device,
    Notification,
    NotificationSettings,
    NotificationStatus,
    Platform,
    Reminder,
)
from webapp.api.serializers import ReadModelSerializer, StrictSerializer


def iso_duration(value: timedelta) -> str:
    """The shortest ISO 8601 form ("PT1H", "P1DT30M", "PT0S"): what clients send us."""
    seconds = int(value.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    clock = "".join(f"{n}{unit}" for n, unit in ((hours, "H"), (minutes, "M"), (secs, "S")) if n)
    text = f"P{days}D" if days else "P"
    if clock:
        text += f"T{clock}"
    return "PT0S" if text == "P" else text


class IsoDurationField(serializers.DurationField):
    def to_representation(self, value: timedelta) -> str:
        return iso_duration(value)


class ReminderInputSerializer(StrictSerializer):
    read_only_names = ("id", "fire_at", "status")

    before = serializers.DurationField(
        required=False, help_text="ISO 8601 duration before the due time, PT0S to P365D"
    )
    at = serializers.DateTimeField(required=False, help_text="an absolute time in the future")
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=Channel.choices),
        required=False,
        allow_empty=False,
        help_text="default: the channels on in the user's notification settings",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if ("before" in attrs) == ("at" in attrs):
            raise serializers.ValidationError("Give exactly one of 'before' or 'at'.")
        return attrs


class ReminderSerializer(ReadModelSerializer[Reminder]):
    before = IsoDurationField(allow_null=True, read_only=True)

    class Meta:
        model = Reminder
        fields = ["id", "before", "at", "channels", "fire_at", "status", "fired_at"]
        read_only_fields = fields


class NotificationSerializer(serializers.ModelSerializer[Notification]):
    class Meta:
        model = Notification
        fields = [
            "id",
            "channel",
            "status",
            "title",
            "body",
            "link",
            "task",
            "reminder",
            "attempts",
            "error",
            "created_at",
            "sent_at",
        ]
        read_only_fields = fields


class NotificationQuerySerializer(StrictSerializer):
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    status = serializers.ChoiceField(choices=NotificationStatus.choices, required=False)
    page = serializers.IntegerField(min_value=1, required=False)
    page_size = serializers.IntegerField(min_value=1, required=False)


class DeviceInputSerializer(StrictSerializer):
    read_only_names = ("id", "created_at")

    token = serializers.CharField(max_length=4096, help_text="the FCM registration token")
    platform = serializers.ChoiceField(choices=Platform.choices)


class DeviceSerializer(serializers.ModelSerializer[Device]):
    class Meta:
        model = Device
        fields = ["id", "token", "platform", "created_at"]
        read_only_fields = fields


class NotificationSettingsSerializer(serializers.ModelSerializer[NotificationSettings]):
    class Meta:
        model = NotificationSettings
        fields = ["email", "push", "in_app", "timezone"]
        read_only_fields = fields


class NotificationSettingsUpdateSerializer(StrictSerializer):
    email = serializers.BooleanField(required=False)
    push = serializers.BooleanField(required=False)
    in_app = serializers.BooleanField(required=False)
    timezone = serializers.CharField(
        max_length=64, required=False, help_text="an IANA time zone such as Europe/Berlin"
    )
