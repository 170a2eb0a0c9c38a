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
from tasks_app.models import Priority, Status, Task
from tasks_app.services import (
    insert_instance,
    instances_apply_template,
    instances_delete,
    pending_instances_locked,
    task_set_series,
)
from tasks_app.validation import clean_title, normalize_tags
from webapp.api.errors import NestedValidationError
from webapp.events import topics
from webapp.events.outbox import emit

TEMPLATE_FIELDS = ("title", "description", "priority", "tags")
RULE_FIELDS = ("rule", "timezone", "anchor", "lead_time")
EDITABLE_FIELDS = (*TEMPLATE_FIELDS, "reminders", *RULE_FIELDS)
# The one wording of the rule, whichever way a recurrence reaches a task without a due date.
NEEDS_DUE_DATE = "A recurring task needs a due date."


def _emit_series(event_type: str, series: RecurringSeries, **extra: Any) -> None:
    emit(
        type=event_type,
        subject=series_subject(series),
        data={"series": series_payload(series), **extra},
        user_id=series.owner_id,
    )


def _locked(series_id: uuid.UUID | str) -> RecurringSeries:
    return RecurringSeries.objects.select_for_update().get(pk=series_id)


def series_lock(*, series_id: uuid.UUID | str) -> RecurringSeries | None:
    """Lock a series row for the caller's transaction (None if it is gone).

    The one lock order: a series before its tasks. A writer that will touch both (deleting an
    instance, detaching one) takes this first, as series_update and series_delete do.
    """
    return RecurringSeries.objects.select_for_update().filter(pk=series_id).first()


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


def _checked_series(
    *,
    owner_id: int,
    template: Mapping[str, Any],
    recurrence: Mapping[str, Any],
    reminders: Sequence[Mapping[str, Any]],
    now: datetime,
) -> RecurringSeries:
    """A new series row (not saved) from a template and a recurrence, every rule checked.

    Errors are ValidationErrors keyed `due_at` or `recurrence: {field: [...]}`, the shape
    `POST tasks/` answers with; nothing is written.
    """
    dtstart = template.get("due_at")
    if dtstart is None:
        raise ValidationError({"due_at": [NEEDS_DUE_DATE]})
    dtstart = whole_seconds(dtstart)
    lead_time = recurrence.get("lead_time") or timedelta(0)
    timezone_name = str(recurrence.get("timezone") or "UTC")
    anchor = str(recurrence.get("anchor") or Anchor.DUE)
    try:
        validate_recurrence(
            rule=str(recurrence.get("rule", "")),
            timezone_name=timezone_name,
            anchor=anchor,
            lead_time=lead_time,
            dtstart=dtstart,
            now=now,
        )
    except RecurrenceError as exc:
        raise NestedValidationError({"recurrence": {exc.field: [exc.message]}}) from exc
    series = RecurringSeries(
        owner_id=owner_id,
        title=clean_title(template["title"]),
        description=template.get("description", ""),
        priority=Priority(template.get("priority", Priority.MEDIUM)),
        tags=normalize_tags(template.get("tags", ())),
        reminder_templates=reminder_templates(reminders),
        rule=stored_rule(str(recurrence["rule"])),
        timezone=timezone_name,
        dtstart=dtstart,
        anchor=anchor,
        lead_time=lead_time,
    )
    if series.anchor == Anchor.DUE:
        # Occurrences already past when the series is made are not back-filled.
        set_pointer(series, following(series, max(dtstart, now), inclusive=dtstart < now))
    return series


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

    `reminders` become the series' reminder templates (its relative ones); the instances'
    reminder rows are the notifications app's to write (planning does it for the first
    instance, the notifications worker for later ones). Errors write nothing.
    """
    series = _checked_series(
        owner_id=owner.pk,
        template=template,
        recurrence=recurrence,
        reminders=reminders,
        now=now or timezone.now(),
    )
    series.save()
    _emit_series(topics.SERIES_CREATED, series)
    insert_instance(
        owner_id=owner.pk,
        fields={
            **{field: getattr(series, field) for field in TEMPLATE_FIELDS},
            "due_at": series.dtstart,
        },
        series_id=series.id,
        occurrence=series.dtstart,
    )
    return series


@transaction.atomic
def series_create_from_task(
    *,
    task: Task,
    recurrence: Mapping[str, Any],
    reminders: Sequence[Mapping[str, Any]] = (),
    now: datetime | None = None,
) -> RecurringSeries:
    """Start a series whose first instance is `task` itself (it keeps its id and reminders).

    What a chatbot user means by "make this repeat". `reminders` are the task's reminders as
    specs; their relative ones become the series' templates.
    """
    current = None if task.series_id is None else series_lock(series_id=task.series_id)
    if current is not None and current.status == SeriesStatus.ACTIVE:
        raise ValidationError({"task_id": ["This task already repeats."]})
    if task.status != Status.PENDING:
        raise ValidationError({"task_id": ["Reopen the task before making it repeat."]})
    template = {field: getattr(task, field) for field in (*TEMPLATE_FIELDS, "due_at")}
    series = _checked_series(
        owner_id=task.owner_id,
        template=template,
        recurrence=recurrence,
        reminders=reminders,
        now=now or timezone.now(),
    )
    series.save()
    _emit_series(topics.SERIES_CREATED, series)
    task_set_series(task=task, series_id=series.id, occurrence=series.dtstart)
    return series


@transaction.atomic
def series_detach_task(*, task: Task) -> RecurringSeries:
    """End the task's series but keep the task, as a one-off task.

    The series ends as `DELETE series/{id}` ends it. Lock order: the series, then the task.
    """
    series = None if task.series_id is None else series_lock(series_id=task.series_id)
    if series is None or series.status != SeriesStatus.ACTIVE:
        raise ValidationError({"task_id": ["This task does not repeat."]})
    task_set_series(task=task, series_id=None, occurrence=None)
    series_delete(series=series)
    series.refresh_from_db()
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
    return pending_instances_locked(series_id=series.id, exceptions=exceptions)


@transaction.atomic
def series_update(
    *,
    series: RecurringSeries,
    changes: Mapping[str, Any],
    now: datetime | None = None,
    keep: Task | None = None,
) -> RecurringSeries:
    """Edit the series from now on.

    Template changes update its pending instances that were not edited on their own; a rule or
    time-zone change deletes those of them due from now on and starts the new rule from now
    (at the series' local time of day), creating its first instance in their place. `keep` is
    an instance the caller holds on to (the chatbot's "this task"): instead of being replaced
    it becomes that first instance, keeping its id and reminders. Reminder template changes
    reach the instances through the series' updated event (the notifications worker writes
    reminders). Errors are keyed by the field sent and change nothing. A change that alters
    nothing emits nothing.
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
    if template_diff:
        instances_apply_template(
            series_id=series.id, values={field: getattr(series, field) for field in template_diff}
        )
    replaced, kept = _replace_pending(series, now=now, keep=keep) if rule_changed else (0, None)
    if rule_changed:
        if new_dtstart != old_dtstart:
            diff["dtstart"] = {"old": old_dtstart, "new": new_dtstart}
        taken = Task.objects.filter(series=series, occurrence=new_dtstart).exists()
        if kept is not None and not taken:
            task_set_series(task=kept, series_id=series.id, occurrence=new_dtstart)
        elif replaced and kept is None:
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


def _replace_pending(
    series: RecurringSeries, *, now: datetime, keep: Task | None
) -> tuple[int, Task | None]:
    """Delete the pending, unedited instances due from now on, except `keep` (returned when
    it is one of them, for the caller to move to the new start); returns how many went."""
    doomed = [
        task
        for task in _pending_instances(series, exceptions=False)
        if task.occurrence is not None and task.occurrence >= now
    ]
    kept = next((task for task in doomed if keep is not None and task.pk == keep.pk), None)
    gone = [task for task in doomed if task is not kept]
    instances_delete(tasks=gone)
    return len(gone) + (kept is not None), kept


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
    instances_delete(tasks=_pending_instances(series, exceptions=True))
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
