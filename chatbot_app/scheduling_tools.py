"""Tools for recurring tasks, reminders and the notification feed."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from django.contrib.auth.models import User
from django.http import Http404
from pydantic import Field

from chatbot_app.tools import DEFAULT_TOOL_PAGE_SIZE, TaskId, validate_with, page_of, task_data, tool
from notifications_app import selectors as notification_selectors
from notifications_app import services as notification_services
from notifications_app.serializers import (
    NotificationQuerySerializer,
    NotificationSerializer,
    ReminderInputSerializer,
    ReminderSerializer,
)
from tasks_app.selectors import task_get
from webapp.api.pagination import MAX_PAGE_SIZE


@tool(title="Set a reminder", write=True)
def set_reminder(
    user: User,
    task_id: TaskId,
    before: Annotated[
        str | None,
        Field(description="ISO 8601 duration before the due time, e.g. PT1H or P1D"),
    ] = None,
    at: Annotated[
        str | None, Field(description="an absolute RFC 3339 time instead of 'before'")
    ] = None,
    channels: Annotated[
        list[str] | None,
        Field(description="email, push, in_app; default: the channels on in the user's settings"),
    ] = None,
) -> dict[str, Any]:
    """Add a reminder to a task: `before` its due time, or `at` a given time."""
    task = task_get(user=user, task_id=task_id)
    spec = validate_with(
        ReminderInputSerializer, {
            name: value
            for name, value in {"before": before, "at": at, "channels": channels}.items()
            if value is not None
        }
    )
    reminder = notification_services.reminder_add(task=task, spec=spec)
    return {"reminder": ReminderSerializer(reminder).data, "task": task_data(task)}


@tool(title="Remove a reminder", write=True)
def remove_reminder(
    user: User, reminder_id: Annotated[str, Field(description="the reminder's id (a UUID)")]
) -> dict[str, Any]:
    """Remove one reminder (see a task's `reminders` for their ids)."""
    try:
        reminder_uuid = uuid.UUID(reminder_id)
    except ValueError:
        raise Http404("No such reminder.") from None
    reminder = notification_selectors.reminder_get(user=user, reminder_id=reminder_uuid)
    task = reminder.task
    notification_services.reminder_delete(reminder=reminder)
    return {"removed": str(reminder_id), "task": task_data(task)}


@tool(title="List notifications", write=False)
def list_notifications(
    user: User,
    channel: Annotated[str | None, Field(description="email, push or in_app")] = None,
    status: Annotated[str | None, Field(description="pending, sent, failed or skipped")] = None,
    page: Annotated[int, Field(description="1-based page number")] = 1,
    page_size: Annotated[int, Field(description=f"1-{MAX_PAGE_SIZE}")] = DEFAULT_TOOL_PAGE_SIZE,
) -> dict[str, Any]:
    """The user's notifications, newest first (the in_app channel is their in-app feed)."""
    query = validate_with(
        NotificationQuerySerializer,
        {name: value for name, value in {"channel": channel, "status": status}.items() if value},
    )
    rows = notification_selectors.notification_list(
        user=user, channel=query.get("channel"), status=query.get("status")
    )
    current, meta = page_of(rows, page=page, page_size=page_size)
    return {**meta, "results": NotificationSerializer(current, many=True).data}
