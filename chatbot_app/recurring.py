"""Repeating tasks as a chatbot user means them, for set_recurring/stop_recurring/set_reminder.

The recurrence services create a series together with a new first instance (what `POST tasks/`
with `recurrence` does) and end a series by deleting its pending instances. A chatbot user
saying "make this repeat monthly" or "stop repeating this" means the task in front of them,
so these keep it: the series is made with that task as its first instance, and on stopping
the task is detached before the series is ended. The series row is built exactly as
`recurrence_app.services.series_create` builds it, with that module's own helpers.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from notifications_app.models import Reminder
from notifications_app.services import reminder_add, reminder_delete, reminder_spec
from recurrence_app.events import series_payload, series_subject
from recurrence_app.materialise import following, inherited_reminders, set_pointer
from recurrence_app.models import Anchor, RecurringSeries, SeriesStatus
from recurrence_app.services import (
    reminder_templates,
    series_delete,
    series_update,
    stored_rule,
)
from tasks_app.events import task_payload, task_subject
from tasks_app.models import Status, Task
from webapp.events import topics
from webapp.events.outbox import emit


def _emit_task_updated(task: Task, changes: dict[str, Any]) -> None:
    emit(
        type=topics.TASK_UPDATED,
        subject=task_subject(task),
        data={"task": task_payload(task), "changes": changes},
        user_id=task.owner_id,
    )


def active_series_of(task: Task) -> RecurringSeries | None:
    """The series the task belongs to while it still repeats (not ended or completed)."""
    if task.series_id is None:
        return None
    return RecurringSeries.objects.filter(pk=task.series_id, status=SeriesStatus.ACTIVE).first()


@transaction.atomic
def task_make_recurring(
    *, task: Task, recurrence: Mapping[str, Any], now: datetime | None = None
) -> RecurringSeries:
    """Start a series whose first instance is `task` (its due time is the series' start).

    `recurrence` is validated already (RecurrenceInputSerializer and check_recurrence, as for
    `POST tasks/`). Emits the series' created event and the task's updated event.
    """
    now = now or timezone.now()
    task = Task.objects.select_for_update().get(pk=task.pk)
    if active_series_of(task) is not None:
        raise ValidationError({"task_id": ["This task already repeats."]})
    if task.status != Status.PENDING:
        raise ValidationError({"task_id": ["Reopen the task before making it repeat."]})
    if task.due_at is None:
        raise ValidationError({"due_at": ["A recurring task needs a due date."]})
    dtstart = task.due_at
    specs = [reminder_spec(reminder) for reminder in Reminder.objects.filter(task=task)]
    series = RecurringSeries(
        owner_id=task.owner_id,
        title=task.title,
        description=task.description,
        priority=task.priority,
        tags=list(task.tags),
        reminder_templates=reminder_templates(specs),
        rule=stored_rule(str(recurrence["rule"])),
        timezone=str(recurrence.get("timezone") or "UTC"),
        dtstart=dtstart,
        anchor=str(recurrence.get("anchor") or Anchor.DUE),
        lead_time=recurrence.get("lead_time") or timedelta(0),
    )
    if series.anchor == Anchor.DUE:
        # As in series_create: occurrences already past are not back-filled.
        set_pointer(series, following(series, max(dtstart, now), inclusive=dtstart < now))
    series.save()
    emit(
        type=topics.SERIES_CREATED,
        subject=series_subject(series),
        data={"series": series_payload(series)},
        user_id=series.owner_id,
    )
    task.series = series
    task.occurrence = dtstart
    task.save(update_fields=["series", "occurrence", "updated_at"])
    _emit_task_updated(task, {"series": {"old": None, "new": str(series.pk)}})
    return series


@transaction.atomic
def task_stop_recurring(*, task: Task) -> RecurringSeries:
    """End the task's series but keep the task itself, as a one-off task.

    The series ends as `DELETE series/{id}` ends it (other pending instances go, completed
    ones stay, its job is cancelled by the worker on the deleted event).
    """
    task = Task.objects.select_for_update().get(pk=task.pk)
    series = active_series_of(task)
    if series is None:
        raise ValidationError({"task_id": ["This task does not repeat."]})
    task.series = None
    task.occurrence = None
    task.is_exception = False
    task.save(update_fields=["series", "occurrence", "is_exception", "updated_at"])
    _emit_task_updated(task, {"series": {"old": str(series.pk), "new": None}})
    series_delete(series=series)
    series.refresh_from_db()
    return series


def _same_reminder(reminder: Reminder, spec: Mapping[str, Any]) -> bool:
    if reminder.before is None or reminder.before != spec.get("before"):
        return False
    wanted = spec.get("channels")
    return wanted is None or set(wanted) == set(reminder.channels)


@transaction.atomic
def reminder_add_everywhere(*, task: Task, spec: Mapping[str, Any]) -> Reminder:
    """Add a reminder; on a repeating task a relative one goes to every occurrence.

    "Remind me a day before" about a monthly task means every month: the reminder becomes one
    of the series' templates (which the recurrence service copies onto its pending instances
    and every later one). The task itself gets it too if it is an edited occurrence the
    template does not reach.
    """
    series = active_series_of(task)
    if series is None or spec.get("before") is None:
        return reminder_add(task=task, spec=spec)
    series_update(series=series, changes={"reminders": [*inherited_reminders(series), spec]})
    for reminder in Reminder.objects.filter(task=task):
        if _same_reminder(reminder, spec):
            return reminder
    return reminder_add(task=task, spec=spec)


@transaction.atomic
def reminder_remove_everywhere(*, reminder: Reminder) -> None:
    """Remove a reminder; on a repeating task a relative one leaves the series' templates too."""
    task = reminder.task
    series = active_series_of(task)
    if series is not None and reminder.before is not None:
        templates = inherited_reminders(series)
        kept = [spec for spec in templates if not _same_reminder(reminder, spec)]
        if len(kept) != len(templates):
            series_update(series=series, changes={"reminders": kept})
    if Reminder.objects.filter(pk=reminder.pk).exists():
        reminder_delete(reminder=reminder)
