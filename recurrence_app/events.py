"""The series' shape inside `todo.series.*.v1` events and the API."""

from __future__ import annotations

from typing import Any

from recurrence_app.models import RecurringSeries
from recurrence_app.rules import iso_duration
from tasks_app.models import Priority


def series_payload(series: RecurringSeries) -> dict[str, Any]:
    return {
        "id": str(series.id),
        "user_id": series.owner_id,
        "title": series.title,
        "description": series.description,
        "priority": Priority(series.priority).label,
        "tags": list(series.tags),
        "reminders": list(series.reminder_templates),
        "rule": series.rule,
        "timezone": series.timezone,
        "dtstart": series.dtstart,
        "anchor": series.anchor,
        "lead_time": iso_duration(series.lead_time),
        "excluded": sorted(series.excluded),
        "status": series.status,
        "next_occurrence": series.next_occurrence,
        "created_at": series.created_at,
        "updated_at": series.updated_at,
    }


def series_subject(series: RecurringSeries) -> str:
    return f"series/{series.id}"
