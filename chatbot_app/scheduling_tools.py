"""Tools for recurring tasks, reminders and the notification feed."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from django.contrib.auth.models import User
from django.http import Http404
from pydantic import Field

from chatbot_app.tools import DEFAULT_TOOL_PAGE_SIZE, TaskId, task_data, tool, validate_with
from notifications_app import selectors as notification_selectors
from notifications_app.serializers import (
    NotificationQuerySerializer,
    NotificationSerializer,
    ReminderInputSerializer,
    ReminderSerializer,
)
from planning import services as planning
from planning.serializers import SeriesUpdateSerializer
from recurrence_app.serializers import RecurrenceInputSerializer, SeriesSerializer
from tasks_app.selectors import task_get
from webapp.api.pagination import MAX_PAGE_SIZE, page_of
from webapp.api.serializers import StrictSerializer

AnchorName = Literal["due", "completion"]
ChannelName = Literal["email", "push", "in_app"]

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
        str | None,
        Field(
            description="IANA time zone the rule is read in, e.g. Europe/Berlin (new series: "
            "UTC unless given; a repeating task keeps its series' zone unless given)"
        ),
    ] = None,
    anchor: Annotated[
        AnchorName | None,
        Field(
            description="due: on the calendar; completion: counted from completion (new "
            "series: due unless given; a repeating task keeps its anchor unless given)"
        ),
    ] = None,
    lead_time: Annotated[
        str | None, Field(description="ISO 8601 duration: create each task this early")
    ] = None,
) -> dict[str, Any]:
    """Make a task repeat from its due date; on a task that already repeats, change the rule.

    The task keeps its id and reminders either way: it is the first instance of the new rule.
    """
    task = task_get(user=user, task_id=task_id)
    given = {"timezone": timezone, "anchor": anchor, "lead_time": lead_time}
    recurrence: dict[str, Any] = {
        "rule": PRESETS.get(rule.strip().lower(), rule),
        **{name: value for name, value in given.items() if value is not None},
    }
    if planning.active_series_of(task) is None:
        checked = validate_with(RecurrenceWrapper, {"recurrence": recurrence})["recurrence"]
    else:
        # As `PATCH series/{id}/`: only what the call gives changes, from now on.
        checked = validate_with(SeriesUpdateSerializer, recurrence, partial=True)
    series = planning.task_make_recurring(task=task, recurrence=checked)
    return {"series": SeriesSerializer(series).data, "task": task_data(task)}


@tool(title="Stop a task repeating", write=True)
def stop_recurring(user: User, task_id: TaskId) -> dict[str, Any]:
    """End a task's series: this task stays as a one-off; no more occurrences are made."""
    task = task_get(user=user, task_id=task_id)
    series = planning.task_stop_recurring(task=task)
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
        list[ChannelName] | None,
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
    reminder = planning.reminder_add_everywhere(task=task, spec=spec)
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
    planning.reminder_remove_everywhere(reminder=reminder)
    return {"removed": str(reminder_id), "task": task_data(task)}


@tool(title="List notifications", write=False)
def list_notifications(
    user: User,
    channel: Annotated[ChannelName | None, Field(description="email, push or in_app")] = None,
    status: Annotated[
        Literal["pending", "sent", "failed", "skipped"] | None,
        Field(description="pending, sent, failed or skipped"),
    ] = None,
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
