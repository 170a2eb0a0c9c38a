"""Writes to reminders and deliveries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError

from notifications_app.models import Reminder
from tasks_app.models import Task

MAX_REMINDERS_PER_TASK = 10


def reminders_replace(*, task: Task, specs: Sequence[Mapping[str, Any]]) -> bool:
    """Make the task's reminders exactly `specs` (each `{"before": timedelta}` or `{"at": ...}`).

    Returns whether anything changed. The caller holds the transaction.
    """
    if len(specs) > MAX_REMINDERS_PER_TASK:
        raise ValidationError(
            {"reminders": [f"At most {MAX_REMINDERS_PER_TASK} reminders per task."]}
        )
    wanted = [(s.get("before"), s.get("at"), tuple(s.get("channels") or ())) for s in specs]
    current = [(r.before, r.at, tuple(r.channels)) for r in task.reminders.all()]
    if sorted(map(repr, wanted)) == sorted(map(repr, current)):
        return False
    task.reminders.all().delete()
    Reminder.objects.bulk_create(
        Reminder(task=task, before=before, at=at, channels=list(channels))
        for before, at, channels in wanted
    )
    return True
