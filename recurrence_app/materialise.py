"""Turning occurrences into tasks: the job sweep (batched for midnight storms) and its helpers.

Every writer of a series' instances holds the series row lock, so the pointer
(`next_occurrence`) and the instances never disagree; the unique (series, occurrence)
constraint is the last guard, and inserts use ON CONFLICT DO NOTHING so nothing is ever
created twice.

Midnight storm: when many series are due at one instant, each job firing claims a batch of
up to BATCH_SIZE due series (`SELECT ... FOR UPDATE SKIP LOCKED`, so parallel firings take
disjoint batches), inserts their instances with one statement and their events with one more,
and moves their pointers. The jobs of the swept series then find nothing left to do but
re-arm themselves. Where a series has a lead time, its trigger is also spread by a fixed
per-series jitter (see `jitter`), so one instant's jobs do not all fire in the same second.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from recurrence_app.metrics import GENERATION_LATENCY, INSTANCES_GENERATED
from recurrence_app.models import Anchor, RecurringSeries, SeriesStatus
from recurrence_app.rules import Rule, next_occurrence, parse_rule, zone
from tasks_app.models import Task
from tasks_app.services import InstanceRow, insert_instance, insert_instances
from webapp.events import jobs

BATCH_SIZE = 1000
# Instances one series may catch up on in one firing (after an outage); the job re-fires
# at once for the rest.
MAX_CATCH_UP = 100
# Jitter stays within a tenth of the lead window and at most this long, so an instance still
# appears well before it is due.
MAX_JITTER = timedelta(seconds=60)
JOB_PREFIX = "series-"


def job_name(series_id: uuid.UUID | str) -> str:
    return f"{JOB_PREFIX}{series_id}"


@lru_cache(maxsize=4096)
def _parsed(rule: str, tz_name: str) -> tuple[Rule, ZoneInfo]:
    tz = zone(tz_name)
    return parse_rule(rule, tz=tz), tz


def rule_of(series: RecurringSeries) -> tuple[Rule, ZoneInfo]:
    """The series' stored rule, parsed (it was validated when saved)."""
    return _parsed(series.rule, series.timezone)


def jitter(series_id: uuid.UUID, lead_time: timedelta) -> timedelta:
    """A fixed offset in [0, min(lead_time / 10, MAX_JITTER)) derived from the series id.

    Fixed per series, so re-scheduling lands on the same instant; zero without a lead time,
    because then the instance must exist at its due time.
    """
    window = min(lead_time / 10, MAX_JITTER)
    if window <= timedelta(0):
        return timedelta(0)
    fraction = (series_id.int % 10_000) / 10_000
    return timedelta(seconds=int(window.total_seconds() * fraction))


def trigger_at(series: RecurringSeries, occurrence: datetime) -> datetime:
    """When the instance of `occurrence` appears."""
    return occurrence - series.lead_time + jitter(series.id, series.lead_time)


def set_pointer(series: RecurringSeries, occurrence: datetime | None) -> None:
    """Point the job at `occurrence` (None: nothing left for the job)."""
    series.next_occurrence = occurrence
    uses_job = occurrence is not None and series.anchor == Anchor.DUE
    series.job_due_at = trigger_at(series, occurrence) if uses_job and occurrence else None


def following(
    series: RecurringSeries,
    after: datetime,
    *,
    inclusive: bool = False,
    of_occurrence: bool = False,
) -> datetime | None:
    """The series' first occurrence after `after` (`of_occurrence`: `after` is one of its
    occurrences, which lets the expansion start there instead of at DTSTART)."""
    rule, tz = rule_of(series)
    return next_occurrence(
        rule=rule,
        tz=tz,
        dtstart=series.dtstart,
        after=after,
        excluded=series.excluded,
        inclusive=inclusive,
        rebase=of_occurrence,
    )


def instance_fields(series: RecurringSeries, occurrence: datetime) -> dict[str, Any]:
    return {
        "title": series.title,
        "description": series.description,
        "priority": series.priority,
        "tags": list(series.tags),
        "due_at": occurrence,
    }


def sync_job(series: RecurringSeries) -> None:
    """Make the series' job match the row: scheduled at job_due_at, or gone."""
    if series.status == SeriesStatus.ACTIVE and series.job_due_at is not None:
        jobs.schedule(
            name=job_name(series.id),
            due_at=series.job_due_at,
            data={"series": str(series.id), "due_at": series.job_due_at.isoformat()},
        )
    else:
        jobs.cancel(name=job_name(series.id))


def create_instance(series: RecurringSeries, occurrence: datetime, *, trigger: str) -> Task | None:
    """Create one instance (the caller holds the series lock); None if it already exists."""
    if occurrence in series.excluded:
        return None
    if Task.objects.filter(series=series, occurrence=occurrence).exists():
        return None
    try:
        with transaction.atomic():
            task = insert_instance(
                owner_id=series.owner_id,
                fields=instance_fields(series, occurrence),
                series_id=series.id,
                occurrence=occurrence,
            )
    except IntegrityError:
        # Someone not holding the series lock got there first; one instance is what we want.
        return None
    INSTANCES_GENERATED.labels(trigger).inc()
    return task


# The sweep ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SweepResult:
    series: int
    instances: int


def materialise_due(
    *, now: datetime, first: uuid.UUID | None = None, batch_size: int | None = None
) -> SweepResult:
    """Create the instances of up to `batch_size` series whose job is due at `now`.

    `first` (the series whose job fired) is claimed whether due or not, so its job is always
    put back at the right time. Returns how many series were claimed and instances created;
    callers loop while a full batch comes back.
    """
    batch_size = batch_size or BATCH_SIZE
    with transaction.atomic():
        active = RecurringSeries.objects.select_for_update(skip_locked=True).filter(
            status=SeriesStatus.ACTIVE, anchor=Anchor.DUE
        )
        claimed: list[RecurringSeries] = []
        if first is not None:
            claimed.extend(active.filter(pk=first))
        own_due = (
            bool(claimed) and claimed[0].job_due_at is not None and (claimed[0].job_due_at <= now)
        )
        # A firing whose own series was already swept needs no sweep of its own: every series
        # still due has its own job, which sweeps when it fires.
        if first is None or own_due:
            others = active.filter(job_due_at__lte=now).order_by("job_due_at")
            if first is not None:
                others = others.exclude(pk=first)
            claimed.extend(others[: max(0, batch_size - len(claimed))])
        if not claimed:
            return SweepResult(series=0, instances=0)
        planned: list[tuple[RecurringSeries, datetime]] = []
        moved: list[RecurringSeries] = []
        for series in claimed:
            due = _advance(series, now=now)
            if due:
                planned.extend((series, moment) for moment in due)
                moved.append(series)
        _save_pointers(moved)
        created = _insert_instances(planned)
        # Only the firing series' job is re-armed here. The other swept series still have
        # their own job due now; when it fires it finds nothing due and re-arms itself, so a
        # storm costs one schedule call per series either way, spread over the firings.
        if claimed[0].pk == first:
            sync_job(claimed[0])
    INSTANCES_GENERATED.labels("job").inc(len(created))
    finished = timezone.now()
    by_id = {series.id: series for series in claimed}
    for task in created:
        appears = trigger_at(by_id[task.series_id], task.occurrence)  # type: ignore[index,arg-type]
        GENERATION_LATENCY.observe(max(0.0, (finished - appears).total_seconds()))
    return SweepResult(series=len(claimed), instances=len(created))


def _advance(series: RecurringSeries, *, now: datetime) -> list[datetime]:
    """The occurrences of `series` due by `now`; moves its pointer past them."""
    due: list[datetime] = []
    moment = series.next_occurrence
    while moment is not None and trigger_at(series, moment) <= now and len(due) < MAX_CATCH_UP:
        if moment not in series.excluded:
            due.append(moment)
        moment = following(series, moment, of_occurrence=True)
    set_pointer(series, moment)
    return due


def _save_pointers(moved: Sequence[RecurringSeries]) -> None:
    """One UPDATE for a batch's pointers (arrays, not a CASE per row)."""
    if not moved:
        return
    table = RecurringSeries._meta.db_table
    # The table name comes from the model; every value is bound.
    sql = (
        f"UPDATE {table} AS s SET next_occurrence = u.next, job_due_at = u.due "  # noqa: S608
        "FROM unnest(%s::uuid[], %s::timestamptz[], %s::timestamptz[]) AS u(id, next, due) "
        "WHERE s.id = u.id"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [
                [series.id for series in moved],
                [series.next_occurrence for series in moved],
                [series.job_due_at for series in moved],
            ],
        )


def _insert_instances(planned: Sequence[tuple[RecurringSeries, datetime]]) -> list[Task]:
    """Insert the planned instances in one statement (tasks_app's insert_instances); the
    notifications worker gives them their series' reminders when it consumes their events."""
    return insert_instances(
        [
            InstanceRow(
                owner_id=series.owner_id,
                series_id=series.id,
                occurrence=occurrence,
                title=series.title,
                description=series.description,
                priority=series.priority,
                tags=series.tags,
            )
            for series, occurrence in planned
        ]
    )
