"""Writes to reminders, devices and notification preferences.

Scheduling the reminder jobs is not done here but by the notifications worker when it consumes
the task event these writes cause (see scheduling.py): Dapr jobs belong to the app-id that
scheduled them, so only that worker may create or delete them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_duration

from notifications_app.models import Channel, Device, NotificationSettings, Reminder
from notifications_app.selectors import notification_settings_for
from tasks_app.models import Status, Task
from tasks_app.services import task_update
from webapp.timezones import known_time_zone

MAX_REMINDERS_PER_TASK = 10
MAX_BEFORE = timedelta(days=365)

SpecKey = tuple[timedelta | None, datetime | None, tuple[str, ...]]


def reminder_fire_at(
    *, before: timedelta | None, at: datetime | None, due_at: datetime | None
) -> datetime | None:
    """When a reminder fires: `before` the due time, or at `at`; None without a due time."""
    if at is not None:
        return at
    if before is None or due_at is None:
        return None
    try:
        return due_at - before
    except OverflowError:
        # Before year 1: long past. The API bounds due dates now, but a task saved before that
        # must leave its reminder skipped rather than fail the worker on every delivery.
        return datetime.min.replace(tzinfo=UTC)


def reminder_spec(reminder: Reminder) -> dict[str, Any]:
    """A reminder as the spec that would create it (what reminders_replace compares)."""
    spec: dict[str, Any] = {"channels": list(reminder.channels)}
    if reminder.at is not None:
        spec["at"] = reminder.at
    else:
        spec["before"] = reminder.before
    return spec


def _reject(message: str) -> ValidationError:
    return ValidationError({"reminders": [message]})


def _key(spec: Mapping[str, Any], default_channels: Sequence[str], position: int) -> SpecKey:
    """Validate the shape of one spec and return its identity (what makes two reminders equal)."""
    before, at = spec.get("before"), spec.get("at")
    if (before is None) == (at is None):
        raise _reject(f"Reminder {position}: give exactly one of 'before' or 'at'.")
    if before is not None and not timedelta(0) <= before <= MAX_BEFORE:
        raise _reject(f"Reminder {position}: 'before' must be between 0 and 365 days.")
    if at is not None and at.tzinfo is None:
        raise _reject(f"Reminder {position}: 'at' needs a time zone.")
    requested = spec.get("channels")
    channels = list(default_channels) if requested is None else list(requested)
    unknown = sorted(set(channels) - set(Channel.values))
    if unknown:
        raise _reject(f"Reminder {position}: unknown channel {', '.join(map(repr, unknown))}.")
    # No "at least one channel" here: clients cannot send an empty list (the serializers
    # refuse it), but a reminder made while every channel was off has none, and its spec
    # must still describe it when another reminder of the task is added or removed.
    ordered = tuple(channel for channel in Channel.values if channel in channels)
    return (before, at, ordered)


def reminders_replace(*, task: Task, specs: Sequence[Mapping[str, Any]]) -> bool:
    """Make the task's reminders exactly `specs` (each `{"before": timedelta}` or `{"at": ...}`,
    optionally with `"channels"`; without channels, the ones on in the owner's settings).

    Reminders that stay keep their id and state; only added ones are checked against the clock
    and the due date, so re-sending a list with a reminder that already fired is not an error.
    Returns whether anything changed. The caller holds the transaction; a ValidationError
    (keyed `reminders`) means nothing was written.
    """
    if len(specs) > MAX_REMINDERS_PER_TASK:
        raise _reject(f"At most {MAX_REMINDERS_PER_TASK} reminders per task.")
    defaults = notification_settings_for(user_id=task.owner_id).enabled_channels()
    wanted = [_key(spec, defaults, position) for position, spec in enumerate(specs, start=1)]
    if len(set(wanted)) != len(wanted):
        raise _reject("The same reminder is given twice.")
    current = {
        (r.before, r.at, tuple(c for c in Channel.values if c in r.channels)): r
        for r in Reminder.objects.filter(task=task)
    }
    added = [key for key in wanted if key not in current]
    removed = [reminder.pk for key, reminder in current.items() if key not in set(wanted)]
    now = timezone.now()
    for position, key in enumerate(wanted, start=1):
        if key not in added:
            continue
        before, at, _channels = key
        if before is not None and task.due_at is None:
            raise _reject(f"Reminder {position}: a reminder before the due time needs a due date.")
        if at is not None and at <= now:
            raise _reject(f"Reminder {position}: that time is in the past.")
    if not added and not removed:
        return False
    Reminder.objects.filter(pk__in=removed).delete()
    Reminder.objects.bulk_create(
        Reminder(
            task=task,
            before=before,
            at=at,
            channels=list(channels),
            fire_at=reminder_fire_at(before=before, at=at, due_at=task.due_at),
        )
        for before, at, channels in added
    )
    return True


@transaction.atomic
def reminder_add(*, task: Task, spec: Mapping[str, Any]) -> Reminder:
    """Add one reminder to a task (an update of the task, with its one updated event)."""
    task = Task.objects.select_for_update().get(pk=task.pk)
    existing = list(Reminder.objects.filter(task=task))
    known = {reminder.pk for reminder in existing}
    task_reminders_set(task=task, changes={}, specs=[*map(reminder_spec, existing), spec])
    return Reminder.objects.filter(task=task).exclude(pk__in=known).get()


@transaction.atomic
def reminder_delete(*, reminder: Reminder) -> None:
    """Remove one reminder; the worker cancels its job when it sees the task's updated event."""
    task = Task.objects.select_for_update().get(pk=reminder.task_id)
    others = Reminder.objects.filter(task=task).exclude(pk=reminder.pk)
    task_reminders_set(task=task, changes={}, specs=[reminder_spec(other) for other in others])


@transaction.atomic
def task_reminders_set(
    *, task: Task, changes: Mapping[str, Any], specs: Sequence[Mapping[str, Any]] | None
) -> Task:
    """Update a task and (unless `specs` is None) make its reminders exactly `specs`, as one
    change with one updated event: the task's fields are set first, so "before" reminders
    count from the new due date."""
    if specs is None:
        return task_update(task=task, changes=changes)
    return task_update(
        task=task,
        changes=changes,
        linked={"reminders": lambda locked: reminders_replace(task=locked, specs=specs)},
    )


def series_reminders_inherit(*, task_id: Any, templates: Sequence[Mapping[str, Any]]) -> bool:
    """Give a new series instance its series' reminders, unless it has some already (the first
    instance gets the reminders it was created with, in the same transaction). Called by the
    worker on the instance's created event; returns whether any were written."""
    if not templates:
        return False
    task = Task.objects.select_for_update().filter(pk=task_id).first()
    if task is None or Reminder.objects.filter(task=task).exists():
        return False
    return reminders_replace(task=task, specs=inherited_specs(templates))


def series_reminders_apply(*, series_id: Any, templates: Sequence[Mapping[str, Any]]) -> list[Task]:
    """After a series' reminder templates changed: its pending instances not edited on their
    own get exactly the new reminders. Returns the tasks whose reminders changed."""
    changed = []
    instances = Task.objects.filter(
        series_id=series_id, status=Status.PENDING, is_exception=False
    ).order_by("occurrence")
    for task in instances.select_for_update():
        if reminders_replace(task=task, specs=inherited_specs(templates)):
            changed.append(task)
    return changed


def inherited_specs(templates: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """A series' stored reminder templates (`{"before": "PT1H", "channels": [...]}`) as
    reminders_replace specs."""
    specs: list[dict[str, Any]] = []
    for template in templates:
        before = parse_duration(str(template.get("before", "")))
        if before is None:
            continue
        spec: dict[str, Any] = {"before": before}
        if template.get("channels"):
            spec["channels"] = list(template["channels"])
        specs.append(spec)
    return specs


def _valid_timezone(name: str) -> str:
    if known_time_zone(name) is None:
        raise ValidationError({"timezone": [f"Unknown time zone {name!r}."]})
    return name


@transaction.atomic
def notification_settings_update(*, user: User, changes: Mapping[str, Any]) -> NotificationSettings:
    """Turn channels on or off and set the time zone reminders show times in."""
    unknown = set(changes) - {"email", "push", "in_app", "timezone"}
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    prefs, _created = NotificationSettings.objects.select_for_update().get_or_create(user=user)
    for name, value in changes.items():
        setattr(prefs, name, _valid_timezone(value) if name == "timezone" else bool(value))
    prefs.save(update_fields=[*changes, "updated_at"])
    return prefs


@transaction.atomic
def device_register(*, user: User, token: str, platform: str) -> tuple[Device, bool]:
    """Register a push token; a token seen before moves to this user (the phone changed hands).

    Returns the device and whether it was created.
    """
    device = Device.objects.select_for_update().filter(token=token).first()
    if device is None:
        return Device.objects.create(user=user, token=token, platform=platform), True
    device.user = user
    device.platform = platform
    device.save(update_fields=["user", "platform", "updated_at"])
    return device, False


def device_delete(*, device: Device) -> None:
    device.delete()


def devices_remove_tokens(*, tokens: Sequence[str]) -> int:
    """Forget tokens FCM reported as unregistered; returns how many devices went."""
    deleted, _ = Device.objects.filter(token__in=list(tokens)).delete()
    return deleted
