"""Reads for reminders, notifications, devices and preferences."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import QuerySet
from django.http import Http404

from notifications_app.models import Device, Notification, NotificationSettings, Reminder
from tasks_app.models import Task


def notification_settings_for(*, user_id: int) -> NotificationSettings:
    """The user's preferences; defaults (every channel on, UTC) until they save some."""
    return notification_settings_by_user(user_ids=[user_id])[user_id]


def notification_settings_by_user(*, user_ids: Iterable[int]) -> dict[int, NotificationSettings]:
    """`notification_settings_for` of several users with one query."""
    wanted = set(user_ids)
    found = {row.user_id: row for row in NotificationSettings.objects.filter(user_id__in=wanted)}
    return {
        user_id: found.get(user_id) or NotificationSettings(user_id=user_id) for user_id in wanted
    }


# Asked for every task created (notifications_app.handlers): written out, as the ORM's
# EXISTS cost the event runtime several times its SQL in building the query, per event.
_HAS_REMINDERS_SQL = f"SELECT EXISTS (SELECT 1 FROM {Reminder._meta.db_table} WHERE task_id = %s)"  # noqa: S608


def task_has_reminders(*, task_id: uuid.UUID | str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute(_HAS_REMINDERS_SQL, [uuid.UUID(str(task_id))])
        row = cursor.fetchone()
    return bool(row and row[0])


def reminder_list(*, task: Task) -> QuerySet[Reminder]:
    return Reminder.objects.filter(task=task).order_by("fire_at", "created_at", "id")


def reminder_get(*, user: User, reminder_id: uuid.UUID | str) -> Reminder:
    """Another user's reminder is a 404, exactly like one that does not exist."""
    found = (
        Reminder.objects.select_related("task")
        .filter(pk=reminder_id, task__owner_id=user.pk)
        .first()
    )
    if found is None:
        raise Http404("No such reminder.")
    return found


def notification_list(
    *, user: User, channel: str | None = None, status: str | None = None
) -> QuerySet[Notification]:
    """Newest first: the delivery log and, for `in_app`, the feed."""
    rows = Notification.objects.filter(user_id=user.pk)
    if channel:
        rows = rows.filter(channel=channel)
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("-created_at", "-id")


def device_list(*, user: User) -> QuerySet[Device]:
    return Device.objects.filter(user_id=user.pk).order_by("created_at")


def device_get(*, user: User, device_id: uuid.UUID | str) -> Device:
    found = Device.objects.filter(pk=device_id, user_id=user.pk).first()
    if found is None:
        raise Http404("No such device.")
    return found


def device_tokens(*, user_id: int) -> list[str]:
    return list(
        Device.objects.filter(user_id=user_id)
        .order_by("created_at")
        .values_list("token", flat=True)
    )
