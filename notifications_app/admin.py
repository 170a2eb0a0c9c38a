"""Support staff look up reminders and deliveries; changes go through the API and services."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from notifications_app.models import Device, Notification, NotificationSettings, Reminder


class ReadOnlyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    """Rows written by services and workers: editing them here would bypass the events."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Reminder)
class ReminderAdmin(ReadOnlyAdmin):
    list_display = ["id", "task", "before", "at", "fire_at", "status", "fired_at"]
    list_filter = ["status"]
    search_fields = ["task__title", "task__owner__username", "=id", "=task__id"]
    list_select_related = ["task"]


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "channel", "status", "attempts", "created_at", "sent_at"]
    list_filter = ["channel", "status"]
    search_fields = ["user__username", "user__email", "title"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"


@admin.register(Device)
class DeviceAdmin(ReadOnlyAdmin):
    list_display = ["id", "user", "platform", "created_at"]
    list_filter = ["platform"]
    search_fields = ["user__username", "user__email"]

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return True  # a support request to forget a lost phone


@admin.register(NotificationSettings)
class NotificationSettingsAdmin(ReadOnlyAdmin):
    list_display = ["user", "email", "push", "in_app", "timezone"]
    search_fields = ["user__username", "user__email"]
