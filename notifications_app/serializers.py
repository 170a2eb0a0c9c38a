"""API shapes of reminders, notifications, devices and notification settings."""

from __future__ import annotations

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
from notifications_app.services import MAX_BEFORE
from webapp.api.serializers import (
    IsoDurationField,
    ReadModelSerializer,
    StrictQuerySerializer,
    StrictSerializer,
    TimeZoneField,
)

REMINDER_MAX_DAYS = MAX_BEFORE.days


class ReminderInputSerializer(StrictSerializer):
    read_only_names = ("id", "fire_at", "status")
    exactly_one_of = ("before", "at")

    before = IsoDurationField(
        max_days=REMINDER_MAX_DAYS, required=False, help_text="how long before the due time"
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


class ReminderTemplateSerializer(StrictSerializer):
    """A reminder every instance inherits: relative to its due time."""

    before = IsoDurationField(max_days=REMINDER_MAX_DAYS)
    channels = serializers.ListField(
        child=serializers.ChoiceField(choices=Channel.choices), required=False, allow_empty=False
    )


class ReminderSerializer(ReadModelSerializer[Reminder]):
    before = IsoDurationField(max_days=REMINDER_MAX_DAYS, allow_null=True, read_only=True)

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


class NotificationQuerySerializer(StrictQuerySerializer):
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
    timezone = TimeZoneField(required=False, help_text="an IANA time zone such as Europe/Berlin")
