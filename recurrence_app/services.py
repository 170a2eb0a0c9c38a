"""Writes to recurring series. Each public function owns its transaction and emits its events.

Jobs are not scheduled here: under Dapr a job belongs to the app-id that scheduled it, and the
series job must fire on the recurrence worker, so the worker's handlers schedule it after
consuming the series and task events (see handlers.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from recurrence_app.events import series_payload, series_subject
from recurrence_app.materialise import (
    create_instance,
    following,
    inherited_reminders,
    rule_of,
    set_pointer,
)
from recurrence_app.models import Anchor, RecurringSeries, SeriesStatus
from recurrence_app.rules import (
    SEARCH_HORIZON,
    RecurrenceError,
    Rule,
    check_density,
    check_has_future,
    iso_duration,
    next_from_completion,
    parse_anchor,
    parse_lead_time,
    parse_rule,
    restart_from,
    to_utc,
    to_wall,
    zone,
)
from tasks_app.events import task_payload, task_subject
from tasks_app.models import Priority, Status, Task
from tasks_app.services import insert_instance
from tasks_app.validation import clean_title, normalize_tags
from webapp.events import topics
from webapp.events.outbox import emit

TEMPLATE_FIELDS = ("title", "description", "priority", "tags")
RULE_FIELDS = ("rule", "timezone", "anchor", "lead_time")
EDITABLE_FIELDS = (*TEMPLATE_FIELDS, "reminders", *RULE_FIELDS)


def _emit_series(event_type: str, series: RecurringSeries, **extra: Any) -> None:
    emit(
        type=event_type,
        subject=series_subject(series),
        data={"series": series_payload(series), **extra},
        user_id=series.owner_id,
    )


def _emit_task(event_type: str, task: Task, **extra: Any) -> None:
    emit(
        type=event_type,
        subject=task_subject(task),
        data={"task": task_payload(task), **extra},
        user_id=task.owner_id,
    )


def _locked(series_id: uuid.UUID | str) -> RecurringSeries:
    return RecurringSeries.objects.select_for_update().get(pk=series_id)


def stored_rule(text: str) -> str:
    """The rule as kept: upper case, without an `RRULE:` prefix."""
    body = text.strip().upper()
    return body.removeprefix("RRULE:")


def reminder_templates(specs: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The relative reminders of `specs` in the stored form; absolute ones are not inherited."""
    templates: list[dict[str, Any]] = []
    for spec in specs:
        before = spec.get("before")
        if not isinstance(before, timedelta):
            continue
        template: dict[str, Any] = {"before": iso_duration(before)}
        if spec.get("channels"):
            template["channels"] = list(spec["channels"])
        templates.append(template)
    return templates


def validate_recurrence(
    *,
    rule: str,
    timezone_name: str,
    anchor: str,
    lead_time: timedelta,
    dtstart: datetime,
    now: datetime,
    excluded: Sequence[datetime] = (),
) -> Rule:
    """Every check a new rule must pass; raises RecurrenceError naming the field at fault.

    A first due date more than SEARCH_HORIZON from now is a ValidationError on `due_at` (the
    field a missing one is reported under): an expansion walks a rule from its start, so this
    bounds every walk, and keeps the search window clear of the year 9999.
    """
    if abs(dtstart - now) > SEARCH_HORIZON:
        raise ValidationError(
            {"due_at": ["A recurring task's first due date must be within 10 years of now."]}
        )
    tz = zone(timezone_name)
    parsed = parse_rule(rule, tz=tz)
    parse_anchor(anchor)
    parse_lead_time(lead_time)
    check_density(parsed)
    check_has_future(rule=parsed, tz=tz, dtstart=whole_seconds(dtstart), now=now, excluded=excluded)
    return parsed


def whole_seconds(moment: datetime) -> datetime:
    """A series starts on a whole second: dateutil drops DTSTART's microseconds from every
    later occurrence, and the events carry milliseconds, so a sub-second start would not be
    found again when its instance is completed (and no next instance would be made)."""
    return moment.replace(microsecond=0)


@transaction.atomic
def series_create(
    *,
    owner: User,
    template: Mapping[str, Any],
    recurrence: Mapping[str, Any],
    reminders: Sequence[Mapping[str, Any]] = (),
    now: datetime | None = None,
) -> RecurringSeries:
    """Create a series and its first instance, due at DTSTART (the template's `due_at`).

    Validation errors come keyed `recurrence` (or `due_at`) and write nothing.
    """
    now = now or timezone.now()
    dtstart = template.get("due_at")
    if dtstart is None:
        raise ValidationError({"due_at": ["A recurring task needs a due date."]})
    dtstart = whole_seconds(dtstart)
    lead_time = recurrence.get("lead_time") or timedelta(0)
    try:
        validate_recurrence(
            rule=str(recurrence.get("rule", "")),
            timezone_name=str(recurrence.get("timezone") or "UTC"),
            anchor=str(recurrence.get("anchor") or Anchor.DUE),
            lead_time=lead_time,
            dtstart=dtstart,
            now=now,
        )
    except RecurrenceError as exc:
        raise ValidationError({"recurrence": [exc.message]}) from exc
    series = RecurringSeries(
        owner=owner,
        title=clean_title(template["title"]),
        description=template.get("description", ""),
        priority=Priority(template.get("priority", Priority.MEDIUM)),
        tags=normalize_tags(template.get("tags", ())),
        reminder_templates=reminder_templates(reminders),
        rule=stored_rule(str(recurrence["rule"])),
        timezone=str(recurrence.get("timezone") or "UTC"),
        dtstart=dtstart,
        anchor=str(recurrence.get("anchor") or Anchor.DUE),
        lead_time=lead_time,
    )
    if series.anchor == Anchor.DUE:
        # Occurrences already past when the series is made are not back-filled.
        set_pointer(series, following(series, max(dtstart, now), inclusive=dtstart < now))
    series.save()
    _emit_series(topics.SERIES_CREATED, series)
    insert_instance(
        owner_id=owner.pk,
        fields={**{field: getattr(series, field) for field in TEMPLATE_FIELDS}, "due_at": dtstart},
        series_id=series.id,
        occurrence=dtstart,
        reminders=reminders,
    )
    return series


@transaction.atomic
def series_exclude_occurrence(*, series_id: uuid.UUID | str, occurrence: datetime) -> None:
    """Record that an occurrence was deleted, so it is never generated again."""
    series = _locked(series_id)
    if occurrence in series.excluded:
        return
    series.excluded = [*series.excluded, occurrence]
    series.save(update_fields=["excluded", "updated_at"])


def _pending_instances(series: RecurringSeries, *, exceptions: bool) -> list[Task]:
    instances = Task.objects.select_for_update().filter(series=series, status=Status.PENDING)
    if not exceptions:
        instances = instances.filter(is_exception=False)
    return list(instances.order_by("occurrence"))


@transaction.atomic
def series_update(
    *, series: RecurringSeries, changes: Mapping[str, Any], now: datetime | None = None
) -> RecurringSeries:
    """Edit the series from now on.

    Template changes update its pending instances that were not edited on their own; a rule or
    time-zone change deletes those of them due from now on and starts the new rule from now
    (at the series' local time of day), creating its first instance in their place. Errors are
    keyed by the field sent and change nothing. A change that alters nothing emits nothing.
    """
    unknown = set(changes) - set(EDITABLE_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {', '.join(sorted(unknown))}")
    now = now or timezone.now()
    series = _locked(series.pk)
    if series.status != SeriesStatus.ACTIVE:
        raise ValidationError({"status": [f"A {series.status} series cannot be edited."]})
    cleaned = _cleaned(changes)
    try:
        if "lead_time" in cleaned:
            parse_lead_time(cleaned["lead_time"])
        if "anchor" in cleaned:
            parse_anchor(cleaned["anchor"])
    except RecurrenceError as exc:
        raise ValidationError({exc.field: [exc.message]}) from exc
    diff: dict[str, dict[str, Any]] = {}
    for field, new in cleaned.items():
        old = getattr(series, field if field != "reminders" else "reminder_templates")
        if old != new:
            diff[field] = {"old": _shown(field, old), "new": _shown(field, new)}
    if not diff:
        return series
    rule_changed = "rule" in diff or "timezone" in diff
    old_dtstart, old_anchor = series.dtstart, series.anchor
    new_dtstart = _new_start(series, cleaned, now=now) if rule_changed else old_dtstart
    for field, new in cleaned.items():
        setattr(series, field if field != "reminders" else "reminder_templates", new)
    series.dtstart = new_dtstart
    template_diff = {key: value for key, value in diff.items() if key in TEMPLATE_FIELDS}
    if template_diff or "reminders" in diff:
        _apply_template(series, template_diff, reminders_changed="reminders" in diff)
    replaced = _replace_pending(series, now=now) if rule_changed else 0
    if rule_changed:
        if new_dtstart != old_dtstart:
            diff["dtstart"] = {"old": old_dtstart, "new": new_dtstart}
        if replaced:
            create_instance(series, new_dtstart, trigger="edit")
        _repoint(series, after=new_dtstart, inclusive=not replaced)
    elif old_anchor != series.anchor:
        latest = (
            Task.objects.filter(series=series)
            .order_by("-occurrence")
            .values_list("occurrence", flat=True)
            .first()
        )
        _repoint(series, after=max(now, latest or now), inclusive=latest is None)
    elif "lead_time" in diff:
        set_pointer(series, series.next_occurrence)
    series.save()
    _emit_series(topics.SERIES_UPDATED, series, changes=diff)
    return series


def _cleaned(changes: Mapping[str, Any]) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for field, value in changes.items():
        if field == "title":
            value = clean_title(value)
        elif field == "tags":
            value = normalize_tags(value)
        elif field == "priority":
            value = Priority(value)
        elif field == "reminders":
            value = reminder_templates(value)
        elif field == "rule":
            value = stored_rule(str(value))
        cleaned[field] = value
    return cleaned


def _new_start(series: RecurringSeries, cleaned: Mapping[str, Any], *, now: datetime) -> datetime:
    """Validate the new rule and zone; return where the new rule starts (at or after now)."""
    rule_text = cleaned.get("rule", series.rule)
    tz_name = cleaned.get("timezone", series.timezone)
    try:
        new_tz = zone(tz_name)
        rule = parse_rule(rule_text, tz=new_tz)
        check_density(rule)
        parse_anchor(cleaned.get("anchor", series.anchor))
        parse_lead_time(cleaned.get("lead_time", series.lead_time))
        if rule.until is not None and rule.until < now:
            raise RecurrenceError("rule", "End date must be in the future.")
        # The series keeps its local time of day, read in the zone it now lives in.
        _, old_tz = rule_of(series)
        wall = to_utc(to_wall(series.dtstart, old_tz), new_tz)
        start = restart_from(rule=rule, tz=new_tz, wall_time_of=wall, now=now)
        if start is None or (start in series.excluded and rule.count == 1):
            raise RecurrenceError("rule", "The rule has no occurrence in the future.")
    except RecurrenceError as exc:
        raise ValidationError({exc.field: [exc.message]}) from exc
    return start


def _apply_template(
    series: RecurringSeries, template_diff: Mapping[str, Any], *, reminders_changed: bool
) -> None:
    """Carry template edits to pending instances not edited on their own (one event each)."""
    for task in _pending_instances(series, exceptions=False):
        changes = {
            field: {"old": _shown(field, getattr(task, field)), "new": _shown(field, value)}
            for field, value in ((f, getattr(series, f)) for f in template_diff)
            if getattr(task, field) != value
        }
        for field in changes:
            setattr(task, field, getattr(series, field))
        changed_reminders = False
        if reminders_changed:
            from notifications_app.services import reminders_replace

            changed_reminders = reminders_replace(task=task, specs=inherited_reminders(series))
        if not changes and not changed_reminders:
            continue
        if changes:
            task.save(update_fields=[*changes, "updated_at"])
        if changed_reminders:
            changes["reminders"] = {"old": None, "new": None}
        _emit_task(topics.TASK_UPDATED, task, changes=changes)


def _replace_pending(series: RecurringSeries, *, now: datetime) -> int:
    """Delete the pending, unedited instances due from now on; returns how many."""
    doomed = [
        task
        for task in _pending_instances(series, exceptions=False)
        if task.occurrence is not None and task.occurrence >= now
    ]
    for task in doomed:
        _emit_task(topics.TASK_DELETED, task)
        task.delete()
    return len(doomed)


def _repoint(series: RecurringSeries, *, after: datetime, inclusive: bool) -> None:
    if series.anchor == Anchor.DUE:
        set_pointer(series, following(series, after, inclusive=inclusive))
    else:
        set_pointer(series, None)


def _shown(field: str, value: Any) -> Any:
    if field == "priority" and value is not None:
        return Priority(value).label
    if field == "lead_time" and isinstance(value, timedelta):
        return iso_duration(value)
    if isinstance(value, list):
        return list(value)
    return value


@transaction.atomic
def series_delete(*, series: RecurringSeries) -> None:
    """End the series: pending instances go (one deleted event each), completed ones stay."""
    series = _locked(series.pk)
    if series.status == SeriesStatus.DELETED:
        return
    for task in _pending_instances(series, exceptions=True):
        _emit_task(topics.TASK_DELETED, task)
        task.delete()
    series.status = SeriesStatus.DELETED
    set_pointer(series, None)
    series.save(update_fields=["status", "next_occurrence", "job_due_at", "updated_at"])
    _emit_series(topics.SERIES_DELETED, series)


# Reactions to instance events (run by the recurrence worker's handlers) ---------------------


@transaction.atomic
def series_instance_completed(
    *, series_id: uuid.UUID | str, occurrence: datetime | None, completed_at: datetime
) -> Task | None:
    """Create the instance after a completed one; returns it (None if nothing was due).

    anchor=due: the first occurrence after the completed one that is not excluded, unless it
    already has an instance (so completing late, twice or out of order creates nothing more).
    anchor=completion: the next due time counts from `completed_at` (rules.next_from_completion),
    unless an instance is still open; COUNT counts the instances the series has had.
    """
    series = RecurringSeries.objects.select_for_update().filter(pk=series_id).first()
    if series is None or series.status != SeriesStatus.ACTIVE:
        return None
    created: Task | None = None
    if series.anchor == Anchor.DUE:
        if occurrence is not None:
            # Not re-based: the completed instance may predate a rule change.
            nxt = following(series, occurrence)
            if nxt is not None:
                created = create_instance(series, nxt, trigger="completion")
                if series.next_occurrence is not None and nxt >= series.next_occurrence:
                    set_pointer(series, following(series, nxt, of_occurrence=True))
                    series.save(update_fields=["next_occurrence", "job_due_at"])
    else:
        created = _next_from(series, moment=completed_at)
    _complete_if_finished(series)
    return created


@transaction.atomic
def series_instance_deleted(*, series_id: uuid.UUID | str, deleted_at: datetime) -> Task | None:
    """After an instance was deleted: a completion-anchored series with no open instance left
    is moved on as if the instance had been done then; a finished rule ends the series."""
    series = RecurringSeries.objects.select_for_update().filter(pk=series_id).first()
    if series is None or series.status != SeriesStatus.ACTIVE:
        return None
    created = None
    if series.anchor == Anchor.COMPLETION:
        created = _next_from(series, moment=deleted_at)
    _complete_if_finished(series)
    return created


def _next_from(series: RecurringSeries, *, moment: datetime) -> Task | None:
    if Task.objects.filter(series=series, status=Status.PENDING).exists():
        return None  # at most one open instance
    rule, tz = rule_of(series)
    if rule.count is not None:
        had = Task.objects.filter(series=series).count() + len(series.excluded)
        if had >= rule.count:
            return None
    nxt = next_from_completion(rule=rule, tz=tz, dtstart=series.dtstart, completed_at=moment)
    while nxt is not None and nxt in series.excluded:
        nxt = next_from_completion(rule=rule, tz=tz, dtstart=series.dtstart, completed_at=nxt)
    if nxt is None:
        return None
    return create_instance(series, nxt, trigger="completion")


def _finished(series: RecurringSeries) -> bool:
    """No instance left open and none to come.

    A completion-anchored series has just tried to create its next instance when this runs,
    so no open instance means the rule is done.
    """
    if Task.objects.filter(series=series, status=Status.PENDING).exists():
        return False
    return series.anchor == Anchor.COMPLETION or series.next_occurrence is None


def _complete_if_finished(series: RecurringSeries) -> None:
    if not _finished(series):
        return
    series.status = SeriesStatus.COMPLETED
    set_pointer(series, None)
    series.save(update_fields=["status", "next_occurrence", "job_due_at", "updated_at"])
    _emit_series(
        topics.SERIES_UPDATED,
        series,
        changes={"status": {"old": SeriesStatus.ACTIVE, "new": SeriesStatus.COMPLETED}},
    )
