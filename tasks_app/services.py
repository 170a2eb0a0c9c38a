"""Writes to tasks. Each function owns its transaction and emits exactly one event per task."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from tasks_app.events import task_payload, task_subject
from tasks_app.models import Priority, Status, Task
from tasks_app.validation import clean_title, normalize_tags
from webapp.events import topics
from webapp.events.outbox import emit

# Fields a caller may change through task_update; everything else is managed by the platform.
EDITABLE_FIELDS = ("title", "description", "priority", "tags", "due_at")


def _emit_task_event(event_type: str, task: Task, **extra: Any) -> None:
    emit(
        type=event_type,
        subject=task_subject(task),
        data={"task": task_payload(task), **extra},
        user_id=task.owner_id,
    )


def _locked(task: Task) -> Task:
    return Task.objects.select_for_update().get(pk=task.pk)


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
    """Create a task; with `recurrence` it becomes the first instance of a new series."""
    fields: dict[str, Any] = {
        "title": clean_title(title),
        "description": description,
        "priority": Priority(priority),
        "tags": normalize_tags(tags),
        "due_at": due_at,
    }
    if recurrence is not None:
        from recurrence_app.services import series_create

        series = series_create(
            owner=owner, template=fields, recurrence=recurrence, reminders=reminders or []
        )
        first: Task = series.instances.get()
        return first
    task = Task.objects.create(owner=owner, **fields)
    if reminders:
        from notifications_app.services import reminders_replace

        reminders_replace(task=task, specs=reminders)
    _emit_task_event(topics.TASK_CREATED, task)
    return task


def insert_instance(
    *,
    owner_id: int,
    fields: Mapping[str, Any],
    series_id: Any,
    occurrence: datetime,
    reminders: Sequence[Mapping[str, Any]] = (),
) -> Task:
    """Create one series instance and its created event (the caller holds the transaction).

    Reminders are set before the event, so consumers of task.created see them.
    """
    task = Task.objects.create(
        owner_id=owner_id, series_id=series_id, occurrence=occurrence, **fields
    )
    if reminders:
        from notifications_app.services import reminders_replace

        reminders_replace(task=task, specs=reminders)
    _emit_task_event(topics.TASK_CREATED, task)
    return task


@transaction.atomic
def task_update(
    *, task: Task, changes: Mapping[str, Any], reminders: Sequence[Mapping[str, Any]] | None = None
) -> Task:
    """Apply a partial update. Editing a series instance makes it an exception of its series.

    A change that alters nothing emits nothing.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    task = _locked(task)
    cleaned = dict(changes)
    if "title" in cleaned:
        cleaned["title"] = clean_title(cleaned["title"])
    if "tags" in cleaned:
        cleaned["tags"] = normalize_tags(cleaned["tags"])
    if "priority" in cleaned:
        cleaned["priority"] = Priority(cleaned["priority"])
    diff: dict[str, dict[str, Any]] = {}
    for field, new in cleaned.items():
        old = getattr(task, field)
        if old != new:
            diff[field] = {"old": _shown(field, old), "new": _shown(field, new)}
            setattr(task, field, new)
    reminders_changed = False
    if reminders is not None:
        from notifications_app.services import reminders_replace

        reminders_changed = reminders_replace(task=task, specs=reminders)
    if not diff and not reminders_changed:
        return task
    update_fields = [*diff, "updated_at"]
    if task.series_id is not None and diff and not task.is_exception:
        task.is_exception = True
        update_fields.append("is_exception")
    task.save(update_fields=update_fields)
    if reminders_changed:
        diff["reminders"] = {"old": None, "new": None}
    _emit_task_event(topics.TASK_UPDATED, task, changes=diff)
    return task


def _shown(field: str, value: Any) -> Any:
    if field == "priority" and value is not None:
        return Priority(value).label
    if isinstance(value, list):
        return list(value)
    return value


@transaction.atomic
def task_complete(*, task: Task, now: datetime | None = None) -> Task:
    """Mark done; completing a completed task changes and emits nothing."""
    task = _locked(task)
    if task.status == Status.COMPLETED:
        return task
    task.status = Status.COMPLETED
    task.completed_at = now or timezone.now()
    task.save(update_fields=["status", "completed_at", "updated_at"])
    _emit_task_event(topics.TASK_COMPLETED, task)
    return task


@transaction.atomic
def task_reopen(*, task: Task) -> Task:
    """Back to pending; reopening a pending task changes and emits nothing."""
    task = _locked(task)
    if task.status == Status.PENDING:
        return task
    task.status = Status.PENDING
    task.completed_at = None
    task.save(update_fields=["status", "completed_at", "updated_at"])
    _emit_task_event(topics.TASK_REOPENED, task)
    return task


@transaction.atomic
def task_delete(*, task: Task) -> None:
    """Delete a task. A series instance's occurrence is excluded so it is never regenerated."""
    task = _locked(task)
    if task.series_id is not None and task.occurrence is not None:
        from recurrence_app.services import series_exclude_occurrence

        series_exclude_occurrence(series_id=task.series_id, occurrence=task.occurrence)
    _emit_task_event(topics.TASK_DELETED, task)
    task.delete()
