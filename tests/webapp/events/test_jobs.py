"""Jobs through the jobs port with the inline runtime (the same job table the local one fires)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import time_machine
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from webapp.events import jobs
from webapp.events.models import ScheduledJob
from webapp.events.runtimes.inline import InlineRuntime


def test_a_job_fires_once_when_the_clock_reaches_it(
    inline_runtime: InlineRuntime, register_job_handler: Callable[..., None]
) -> None:
    fired: list[tuple[str, dict[str, Any]]] = []
    register_job_handler("tests-", lambda name, data: fired.append((name, data)))
    start = timezone.now()
    with transaction.atomic():
        jobs.schedule(name="tests-a", due_at=start + timedelta(hours=1), data={"x": 1})

    with time_machine.travel(start + timedelta(minutes=59), tick=False):
        assert inline_runtime.fire_due_jobs() == []
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        assert inline_runtime.fire_due_jobs() == ["tests-a"]
        assert inline_runtime.fire_due_jobs() == []

    assert fired == [("tests-a", {"x": 1})]


def test_rescheduling_replaces_and_cancelling_removes_a_job(
    inline_runtime: InlineRuntime, register_job_handler: Callable[..., None]
) -> None:
    fired: list[str] = []
    register_job_handler("tests-", lambda name, data: fired.append(name))
    now = timezone.now()
    with transaction.atomic():
        jobs.schedule(name="tests-moved", due_at=now - timedelta(minutes=1))
        jobs.schedule(name="tests-moved", due_at=now + timedelta(days=1))
        jobs.schedule(name="tests-gone", due_at=now - timedelta(minutes=1))
        jobs.cancel(name="tests-gone")
        jobs.cancel(name="tests-never-existed")

    assert inline_runtime.fire_due_jobs() == []
    assert list(ScheduledJob.objects.values_list("name", flat=True)) == ["tests-moved"]


def test_a_handler_may_schedule_its_own_next_run(
    inline_runtime: InlineRuntime, register_job_handler: Callable[..., None]
) -> None:
    now = timezone.now()

    def again(name: str, data: dict[str, Any]) -> None:
        jobs.schedule(name=name, due_at=now + timedelta(days=1), data={"n": data["n"] + 1})

    register_job_handler("tests-", again)
    with transaction.atomic():
        jobs.schedule(name="tests-loop", due_at=now, data={"n": 1})

    assert inline_runtime.fire_due_jobs(now=now) == ["tests-loop"]

    job = ScheduledJob.objects.get()
    assert (job.name, job.due_at, job.data) == ("tests-loop", now + timedelta(days=1), {"n": 2})


@override_settings(EVENT_RETRY_ATTEMPTS=2)
def test_a_failing_job_is_retried_and_then_dropped_with_its_effects_rolled_back(
    inline_runtime: InlineRuntime, register_job_handler: Callable[..., None]
) -> None:
    calls: list[str] = []

    def broken(name: str, data: dict[str, Any]) -> None:
        calls.append(name)
        jobs.schedule(name="tests-side-effect", due_at=timezone.now() + timedelta(days=1))
        raise RuntimeError("down")

    register_job_handler("tests-", broken)
    with transaction.atomic():
        jobs.schedule(name="tests-broken", due_at=timezone.now())

    inline_runtime.fire_due_jobs()

    assert calls == ["tests-broken"] * 3
    assert not ScheduledJob.objects.exists()


def test_a_job_without_a_handler_is_dropped(inline_runtime: InlineRuntime) -> None:
    with transaction.atomic():
        jobs.schedule(name="nobody-handles-this", due_at=timezone.now())

    assert inline_runtime.fire_due_jobs() == ["nobody-handles-this"]
    assert not ScheduledJob.objects.exists()
