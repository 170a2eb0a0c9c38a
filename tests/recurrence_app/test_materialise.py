"""The job path: batched sweeps for many series due at once, catch-up, and job rebuilding."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.management import call_command
from prometheus_client import REGISTRY

from planning.services import task_create
from recurrence_app import materialise
from recurrence_app.models import RecurringSeries
from tasks_app.models import Task
from webapp.events import topics
from webapp.events.models import OutboxEvent, ScheduledJob
from webapp.events.runtimes.inline import InlineRuntime, run_due_jobs

START = datetime(2026, 3, 2, 0, tzinfo=UTC)  # midnight UTC


def make_daily_series(
    owner: User, count: int, *, lead_time: timedelta | None = None
) -> list[uuid.UUID]:
    recurrence: dict[str, Any] = {"rule": "FREQ=DAILY", "timezone": "UTC", "anchor": "due"}
    if lead_time is not None:
        recurrence["lead_time"] = lead_time
    made: list[uuid.UUID] = []
    with time_machine.travel(START - timedelta(hours=1), tick=False):
        for n in range(count):
            task = task_create(owner=owner, title=f"Chore {n}", due_at=START, recurrence=recurrence)
            assert task.series_id is not None
            made.append(task.series_id)
    return made


def _sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_one_firing_sweeps_a_batch_of_due_series(
    owner: User, inline_runtime: InlineRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(materialise, "BATCH_SIZE", 5)
    series_ids = make_daily_series(owner, 12)
    midnight = START + timedelta(days=1)
    with time_machine.travel(midnight, tick=False):
        # 12 series due at once: the first firing makes a batch of 5 instances at once.
        assert run_due_jobs(now=midnight, retry_delay=None, limit=1) != []
        assert Task.objects.filter(occurrence=midnight).count() == 5
        # Every other job still fires once; those already swept only re-arm themselves.
        assert len(inline_runtime.fire_due_jobs()) == 11
    new = Task.objects.filter(occurrence=midnight)
    assert {t.series_id for t in new} == set(series_ids)
    assert Task.objects.filter(occurrence=midnight).count() == 12
    created = OutboxEvent.objects.filter(
        type=topics.TASK_CREATED, subject__in=[f"tasks/{t.id}" for t in new]
    )
    assert created.count() == 12  # one event per instance
    jobs = ScheduledJob.objects.filter(name__in=[f"series-{s}" for s in series_ids])
    assert {job.due_at for job in jobs} == {midnight + timedelta(days=1)}
    assert set(RecurringSeries.objects.values_list("next_occurrence", flat=True)) == {
        midnight + timedelta(days=1)
    }


def test_a_late_job_catches_up_every_missed_occurrence_once(
    owner: User, inline_runtime: InlineRuntime
) -> None:
    [series_id] = make_daily_series(owner, 1)
    generated_before = _sample("todo_recurrence_instances_generated_total", trigger="job")
    lags_before = _sample("todo_recurrence_job_lag_seconds_count")
    with time_machine.travel(START + timedelta(days=3, hours=1), tick=False):
        inline_runtime.fire_due_jobs()
        inline_runtime.fire_due_jobs()
    # Metrics: three instances by the job, one job firing observed two days late.
    assert _sample("todo_recurrence_instances_generated_total", trigger="job") == (
        generated_before + 3
    )
    assert _sample("todo_recurrence_job_lag_seconds_count") == lags_before + 1
    occurrences = list(
        Task.objects.filter(series_id=series_id)
        .order_by("occurrence")
        .values_list("occurrence", flat=True)
    )
    assert occurrences == [START + timedelta(days=d) for d in range(4)]


def test_a_job_firing_twice_creates_nothing_more(
    owner: User, inline_runtime: InlineRuntime
) -> None:
    [series_id] = make_daily_series(owner, 1)
    with time_machine.travel(START + timedelta(days=1), tick=False):
        inline_runtime.fire_due_jobs()
        # A redelivered job (the Scheduler retries) for a series already done.
        materialise.materialise_due(now=START + timedelta(days=1), first=series_id)
    assert Task.objects.filter(series_id=series_id).count() == 2


def test_lead_time_jitter_spreads_triggers_within_a_tenth_of_the_lead(owner: User) -> None:
    series_ids = make_daily_series(owner, 20, lead_time=timedelta(minutes=10))
    offsets = set()
    for series in RecurringSeries.objects.filter(pk__in=series_ids):
        assert series.job_due_at is not None and series.next_occurrence is not None
        offset = series.job_due_at - (series.next_occurrence - timedelta(minutes=10))
        assert timedelta(0) <= offset < timedelta(minutes=1)
        offsets.add(offset)
    assert len(offsets) > 1


def test_reschedule_series_jobs_rebuilds_jobs_from_the_database(owner: User) -> None:
    series_ids = make_daily_series(owner, 3)
    ScheduledJob.objects.all().delete()  # the scheduler lost everything
    out = StringIO()
    with time_machine.travel(START, tick=False):
        call_command("reschedule_series_jobs", stdout=out)
    assert "Scheduled 3 series jobs." in out.getvalue()
    jobs = {job.name: job.due_at for job in ScheduledJob.objects.all()}
    assert jobs == {f"series-{s}": START + timedelta(days=1) for s in series_ids}
