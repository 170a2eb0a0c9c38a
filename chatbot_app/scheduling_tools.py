"""Tools for recurring tasks, reminders and the notification feed."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from django.contrib.auth.models import User
from django.http import Http404
from pydantic import Field
from rest_framework.exceptions import ValidationError

from chatbot_app.recurring import (
    active_series_of,
    reminder_add_everywhere,
    reminder_remove_everywhere,
    task_make_recurring,
    task_stop_recurring,
)
from chatbot_app.tools import (
    DEFAULT_TOOL_PAGE_SIZE,
    TaskId,
    page_of,
    task_data,
    tool,
    validate_with,
)
from notifications_app import selectors as notification_selectors
from notifications_app.serializers import (
    NotificationQuerySerializer,
    NotificationSerializer,
    ReminderInputSerializer,
    ReminderSerializer,
)
from recurrence_app.models import RecurringSeries
from recurrence_app.serializers import (
    RecurrenceInputSerializer,
    SeriesSerializer,
    SeriesUpdateSerializer,
    check_recurrence,
)
from recurrence_app.services import series_update
from tasks_app.models import Status, Task
from tasks_app.selectors import task_get
from webapp.api.pagination import MAX_PAGE_SIZE
from webapp.api.serializers import StrictSerializer

PRESETS = {
    "daily": "FREQ=DAILY",
    "weekdays": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
    "weekly": "FREQ=WEEKLY",
    "monthly": "FREQ=MONTHLY",
    "yearly": "FREQ=YEARLY",
}


class RecurrenceWrapper(StrictSerializer):
    """Nests the rule under `recurrence`, so errors are keyed as `POST tasks/` keys them."""

    recurrence = RecurrenceInputSerializer()


def _current_instance(task_id: uuid.UUID, series: RecurringSeries) -> Task | None:
    """The task asked about, or (if a rule change replaced it) the series' next pending one."""
    return (
        Task.objects.filter(pk=task_id).first()
        or Task.objects.filter(series=series, status=Status.PENDING).order_by("occurrence").first()
    )


@tool(title="Make a task repeat", write=True)
def set_recurring(
    user: User,
    task_id: TaskId,
    rule: Annotated[
        str,
        Field(
            description="daily, weekdays, weekly, monthly, yearly, or an RFC 5545 RRULE such as "
            "FREQ=MONTHLY;BYMONTHDAY=1 (a preset repeats on the task's due date's day/time)"
        ),
    ],
    timezone: Annotated[
        str, Field(description="IANA time zone the rule is read in, e.g. Europe/Berlin")
    ] = "UTC",
    anchor: Annotated[
        str, Field(description="due: on the calendar; completion: counted from completion")
    ] = "due",
    lead_time: Annotated[
        str | None, Field(description="ISO 8601 duration: create each task this early")
    ] = None,
) -> dict[str, Any]:
    """Make a task repeat from its due date; on a task that already repeats, change the rule."""
    task = task_get(user=user, task_id=task_id)
    recurrence: dict[str, Any] = {
        "rule": PRESETS.get(rule.strip().lower(), rule),
        "timezone": timezone,
        "anchor": anchor,
    }
    if lead_time is not None:
        recurrence["lead_time"] = lead_time
    series = active_series_of(task)
    if series is None:
        checked = validate_with(RecurrenceWrapper, {"recurrence": recurrence})["recurrence"]
        if task.due_at is None:
            raise ValidationError({"due_at": ["A recurring task needs a due date."]})
        check_recurrence(checked, dtstart=task.due_at)
        series = task_make_recurring(task=task, recurrence=checked)
    else:
        # As `PATCH series/{id}/`: the rule changes for the whole series from now on.
        changes = validate_with(SeriesUpdateSerializer, recurrence, partial=True)
        series = series_update(series=series, changes=changes)
    current = _current_instance(task.pk, series)
    return {
        "series": SeriesSerializer(series).data,
        "task": task_data(current) if current is not None else None,
    }


@tool(title="Stop a task repeating", write=True)
def stop_recurring(user: User, task_id: TaskId) -> dict[str, Any]:
    """End a task's series: this task stays as a one-off; no more occurrences are made."""
    task = task_get(user=user, task_id=task_id)
    series = task_stop_recurring(task=task)
    return {"series": SeriesSerializer(series).data, "task": task_data(task)}


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
    """Add a reminder to a task: `before` its due time, or `at` a given time.

    On a repeating task a `before` reminder applies to every occurrence.
    """
    task = task_get(user=user, task_id=task_id)
    spec = validate_with(
        ReminderInputSerializer,
        {
            name: value
            for name, value in {"before": before, "at": at, "channels": channels}.items()
            if value is not None
        },
    )
    reminder = reminder_add_everywhere(task=task, spec=spec)
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
    reminder_remove_everywhere(reminder=reminder)
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
