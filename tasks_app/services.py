"""Writes to tasks. Each function owns its transaction and emits exactly one event per task."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone

from tasks_app.events import task_payload, task_subject
from tasks_app.models import Priority, Status, Task
from tasks_app.validation import clean_title, normalize_tags
from webapp.events import topics
from webapp.events.outbox import Event, emit, emit_many

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


# No savepoint when called inside a transaction (the composites in planning/ are): nothing
# here is caught and retried, so a failure ends the caller's transaction anyway, and a
# savepoint would cost a create two more round trips.
@transaction.atomic(savepoint=False)
def task_create(
    *,
    owner: User,
    title: str,
    description: str = "",
    priority: int = Priority.MEDIUM,
    tags: Iterable[str] = (),
    due_at: datetime | None = None,
) -> Task:
    """Create a one-off task. A task with a recurrence or reminders is composed above the apps
    (planning.services.task_create), which calls this in its own transaction."""
    task = Task.objects.create(
        owner=owner,
        title=clean_title(title),
        description=description,
        priority=Priority(priority),
        tags=normalize_tags(tags),
        due_at=due_at,
    )
    _emit_task_event(topics.TASK_CREATED, task)
    return task


def insert_instance(
    *, owner_id: int, fields: Mapping[str, Any], series_id: Any, occurrence: datetime
) -> Task:
    """Create one series instance and its created event (the caller holds the transaction)."""
    task = Task.objects.create(
        owner_id=owner_id, series_id=series_id, occurrence=occurrence, **fields
    )
    _emit_task_event(topics.TASK_CREATED, task)
    return task


@dataclass(frozen=True)
class InstanceRow:
    """One instance for insert_instances: the series' template at one occurrence."""

    owner_id: int
    series_id: uuid.UUID
    occurrence: datetime
    title: str
    description: str
    priority: int
    tags: Sequence[str]


def insert_instances(rows: Sequence[InstanceRow]) -> list[Task]:
    """Insert series instances in one statement, existing (series, occurrence) pairs skipped,
    then their created events in one more; returns the tasks actually created, in order.

    The storm path: a midnight with thousands of due series must not cost a round trip per
    instance. The caller holds the transaction (and the series' locks).
    """
    if not rows:
        return []
    now = timezone.now()
    tasks = [
        Task(
            id=uuid.uuid4(),
            owner_id=row.owner_id,
            title=row.title,
            description=row.description,
            status=Status.PENDING,
            priority=row.priority,
            tags=list(row.tags),
            due_at=row.occurrence,
            series_id=row.series_id,
            occurrence=row.occurrence,
            is_exception=False,
            created_at=now,
            updated_at=now,
        )
        for row in rows
    ]
    table = Task._meta.db_table
    # The whole batch travels as one JSON document: one parameter however big the batch, and
    # no per-element array escaping on the way. Names come from the model; values are bound.
    sql = (
        f"INSERT INTO {table} (id, owner_id, title, description, status, priority, tags, "  # noqa: S608
        "due_at, completed_at, series_id, occurrence, is_exception, created_at, updated_at) "
        "SELECT u.id, u.owner_id, u.title, u.description, %s, u.priority, u.tags, "
        "u.occurrence, NULL, u.series_id, u.occurrence, false, %s, %s "
        "FROM jsonb_to_recordset(%s::jsonb) AS u(id uuid, owner_id integer, title text, "
        "description text, priority smallint, tags varchar(32)[], series_id uuid, "
        "occurrence timestamptz) "
        "ON CONFLICT DO NOTHING RETURNING id"
    )
    document = [
        {
            "id": str(task.id),
            "owner_id": task.owner_id,
            "title": task.title,
            "description": task.description,
            "priority": int(task.priority),
            "tags": list(task.tags),
            "series_id": str(task.series_id),
            "occurrence": task.occurrence.isoformat() if task.occurrence else None,
        }
        for task in tasks
    ]
    params: list[Any] = [Status.PENDING.value, now, now, json.dumps(document)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        inserted = {row[0] for row in cursor.fetchall()}
    created = [task for task in tasks if task.id in inserted]
    emit_many(
        [
            Event(
                type=topics.TASK_CREATED,
                subject=task_subject(task),
                data={"task": task_payload(task)},
                user_id=task.owner_id,
            )
            for task in created
        ]
    )
    return created


@transaction.atomic
def task_update(
    *,
    task: Task,
    changes: Mapping[str, Any],
    linked: Mapping[str, Callable[[Task], bool]] | None = None,
) -> Task:
    """Apply a partial update. Editing a series instance makes it an exception of its series.

    `linked` writes rows another app owns as part of the same change (planning passes the
    task's reminders here): each runs under the task's lock with the new values set, returns
    whether it changed anything, and is named in the one updated event. A change that alters
    nothing emits nothing.
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
    linked_changed = [name for name, write in (linked or {}).items() if write(task)]
    if not diff and not linked_changed:
        return task
    update_fields = [*diff, "updated_at"]
    if task.series_id is not None and diff and not task.is_exception:
        task.is_exception = True
        update_fields.append("is_exception")
    task.save(update_fields=update_fields)
    for name in linked_changed:
        diff[name] = {"old": None, "new": None}
    _emit_task_event(topics.TASK_UPDATED, task, changes=diff)
    return task


@transaction.atomic
def task_tags_change(*, task: Task, add: Iterable[str] = (), remove: Iterable[str] = ()) -> Task:
    """Add and remove tags under the task's lock, so two concurrent edits both count.

    Removing a tag the task does not have is a ValidationError keyed `tag`.
    """
    task = _locked(task)
    # Not validated: a label that could never be a tag is simply one the task does not have.
    wanted_out = [str(tag).lower() for tag in remove]
    missing = [tag for tag in wanted_out if tag not in task.tags]
    if missing:
        raise ValidationError({"tag": [f"The task has no tag {missing[0]!r}."]})
    kept = [tag for tag in task.tags if tag not in wanted_out]
    return task_update(task=task, changes={"tags": [*kept, *add]})


@transaction.atomic
def instances_apply_template(*, series_id: uuid.UUID, values: Mapping[str, Any]) -> list[Task]:
    """Carry a series' template edits to its pending instances not edited on their own (one
    updated event per instance that changed). The caller holds the series' lock."""
    changed: list[Task] = []
    for task in pending_instances_locked(series_id=series_id, exceptions=False):
        diff = {
            field: {"old": _shown(field, getattr(task, field)), "new": _shown(field, value)}
            for field, value in values.items()
            if getattr(task, field) != value
        }
        if not diff:
            continue
        for field in diff:
            setattr(task, field, values[field])
        task.save(update_fields=[*diff, "updated_at"])
        _emit_task_event(topics.TASK_UPDATED, task, changes=diff)
        changed.append(task)
    return changed


def pending_instances_locked(*, series_id: uuid.UUID, exceptions: bool) -> list[Task]:
    """The series' pending instances, locked, in occurrence order (series lock held first)."""
    instances = Task.objects.select_for_update().filter(series_id=series_id, status=Status.PENDING)
    if not exceptions:
        instances = instances.filter(is_exception=False)
    return list(instances.order_by("occurrence"))


@transaction.atomic
def instances_delete(*, tasks: Sequence[Task]) -> None:
    """Delete series instances the caller has locked (one deleted event each)."""
    for task in tasks:
        _emit_task_event(topics.TASK_DELETED, task)
        task.delete()


@transaction.atomic
def task_set_series(
    *, task: Task, series_id: uuid.UUID | None, occurrence: datetime | None
) -> Task:
    """Make the task an instance of a series at `occurrence` (due then), or a one-off task
    again with `series_id=None`. One updated event. The caller holds the series' lock."""
    task = _locked(task)
    old_series = task.series_id
    diff: dict[str, dict[str, Any]] = {}
    if old_series != series_id:
        diff["series"] = {
            "old": str(old_series) if old_series else None,
            "new": str(series_id) if series_id else None,
        }
    if task.occurrence != occurrence:
        diff["occurrence"] = {"old": task.occurrence, "new": occurrence}
    if series_id is not None and task.due_at != occurrence:
        diff["due_at"] = {"old": task.due_at, "new": occurrence}
        task.due_at = occurrence
    if not diff:
        return task
    task.series_id = series_id
    task.occurrence = occurrence
    task.is_exception = False
    task.save(update_fields=["series", "occurrence", "is_exception", "due_at", "updated_at"])
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
def task_delete(*, task: Task) -> Task:
    """Delete a task; returns it as it was (its series and occurrence), for the caller to
    exclude the occurrence from the series. Lock order: a caller that needs the series locks
    it before calling this (planning.services.task_delete)."""
    task = _locked(task)
    _emit_task_event(topics.TASK_DELETED, task)
    deleted = Task(**{f.attname: getattr(task, f.attname) for f in Task._meta.concrete_fields})
    task.delete()
    return deleted
