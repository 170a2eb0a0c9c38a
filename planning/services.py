"""Composite writes: a task with its recurrence and reminders, in one transaction.

Each function calls the owning apps' services; none writes a row itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction

from notifications_app.models import Reminder
from notifications_app.selectors import reminder_list
from notifications_app.services import (
    inherited_specs,
    reminder_add,
    reminder_delete,
    reminder_spec,
    reminders_replace,
    task_reminders_set,
)
from recurrence_app import services as series_services
from recurrence_app.models import RecurringSeries, SeriesStatus
from tasks_app import services as tasks
from tasks_app.models import Priority, Task
from tasks_app.selectors import task_fresh


@transaction.atomic
def task_create(
    *,
    owner: User,
    title: str,
    description: str = "",
    priority: int = Priority.MEDIUM,
    tags: Iterable[str] = (),
    due_at: datetime | None = None,
    recurrence: Mapping[str, Any] | None = None,
    reminders: Sequence[Mapping[str, Any]] | None = None,
) -> Task:
    """Create a task; with `recurrence` it becomes the first instance of a new series, whose
    reminder templates are the relative ones of `reminders`."""
    if recurrence is not None:
        template = {
            "title": title,
            "description": description,
            "priority": priority,
            "tags": tags,
            "due_at": due_at,
        }
        series = series_services.series_create(
            owner=owner, template=template, recurrence=recurrence, reminders=reminders or ()
        )
        task: Task = series.instances.get()
    else:
        task = tasks.task_create(
            owner=owner,
            title=title,
            description=description,
            priority=priority,
            tags=tags,
            due_at=due_at,
        )
    if reminders:
        reminders_replace(task=task, specs=reminders)
    return task


def task_update(
    *, task: Task, changes: Mapping[str, Any], reminders: Sequence[Mapping[str, Any]] | None = None
) -> Task:
    """PATCH of a task: its fields and (when given) exactly these reminders, one event."""
    return task_reminders_set(task=task, changes=changes, specs=reminders)


@transaction.atomic
def task_delete(*, task: Task) -> None:
    """Delete a task; a series instance's occurrence is excluded so it is never regenerated.

    Lock order: the series first, then the task (as series_update and series_delete take
    them), so deleting an instance while its series is edited waits instead of deadlocking.
    """
    series_id = task_fresh(task_id=task.pk).series_id
    if series_id is not None:
        series_services.series_lock(series_id=series_id)
    deleted = tasks.task_delete(task=task)
    if deleted.series_id is not None and deleted.occurrence is not None:
        # Locked above unless the task moved to another series in between (then locked now).
        series_services.series_exclude_occurrence(
            series_id=deleted.series_id, occurrence=deleted.occurrence
        )


def active_series_of(task: Task) -> RecurringSeries | None:
    """The series the task belongs to while it still repeats (not ended or completed)."""
    if task.series_id is None:
        return None
    return RecurringSeries.objects.filter(pk=task.series_id, status=SeriesStatus.ACTIVE).first()


@transaction.atomic
def task_make_recurring(*, task: Task, recurrence: Mapping[str, Any]) -> RecurringSeries:
    """Make `task` repeat, keeping it (its id and reminders) as the series' first instance;
    on a task that already repeats, change its series from now on with only the parts
    `recurrence` gives (the rest, such as the time zone and anchor, stay), keeping the task
    as the first instance of the new rule.
    """
    series = active_series_of(task)
    if series is None:
        specs = [reminder_spec(reminder) for reminder in reminder_list(task=task)]
        return series_services.series_create_from_task(
            task=task, recurrence=recurrence, reminders=specs
        )
    return series_services.series_update(series=series, changes=recurrence, keep=task)


def task_stop_recurring(*, task: Task) -> RecurringSeries:
    """End the task's series; the task stays, as a one-off."""
    return series_services.series_detach_task(task=task)


def _same_reminder(reminder: Reminder, spec: Mapping[str, Any]) -> bool:
    if reminder.before is None or reminder.before != spec.get("before"):
        return False
    wanted = spec.get("channels")
    return wanted is None or set(wanted) == set(reminder.channels)


@transaction.atomic
def reminder_add_everywhere(*, task: Task, spec: Mapping[str, Any]) -> Reminder:
    """Add a reminder; on a repeating task a relative one goes to every occurrence.

    "Remind me a day before" about a monthly task means every month: the reminder becomes one
    of the series' templates (which the notifications worker copies onto its pending
    instances and every later one), and this task gets it now.
    """
    series = active_series_of(task)
    if series is None or spec.get("before") is None:
        return reminder_add(task=task, spec=spec)
    series_services.series_update(
        series=series, changes={"reminders": [*inherited_specs(series.reminder_templates), spec]}
    )
    for reminder in reminder_list(task=task):
        if _same_reminder(reminder, spec):
            return reminder
    return reminder_add(task=task, spec=spec)


@transaction.atomic
def reminder_remove_everywhere(*, reminder: Reminder) -> None:
    """Remove a reminder; on a repeating task a relative one leaves the series' templates too."""
    series = active_series_of(reminder.task)
    if series is not None and reminder.before is not None:
        templates = inherited_specs(series.reminder_templates)
        kept = [spec for spec in templates if not _same_reminder(reminder, spec)]
        if len(kept) != len(templates):
            series_services.series_update(series=series, changes={"reminders": kept})
    if Reminder.objects.filter(pk=reminder.pk).exists():
        reminder_delete(reminder=reminder)
