"""Jobs through the jobs port with the inline runtime (the same job table the local one fires)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import time_machine
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from webapp.events import jobs
from webapp.events.models import ScheduledJob
from webapp.events.registry import DueJob
from webapp.events.runtimes.inline import InlineRuntime, run_due_jobs


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


def test_due_jobs_of_a_batch_route_arrive_in_one_call_in_due_order(
    inline_runtime: InlineRuntime, register_job_handler: Callable[..., None]
) -> None:
    calls: list[list[str]] = []
    register_job_handler(
        "tests-",
        lambda name, data: calls.append([name]),
        lambda due: calls.append([job.name for job in due]),
    )
    now = timezone.now()
    with transaction.atomic():
        for minutes, name in [(3, "tests-c"), (1, "tests-a"), (2, "tests-b"), (-60, "tests-z")]:
            jobs.schedule(name=name, due_at=now - timedelta(minutes=minutes))
        jobs.schedule(name="tests-later", due_at=now + timedelta(minutes=1))

    assert inline_runtime.fire_due_jobs(now=now) == ["tests-c", "tests-b", "tests-a"]
    assert calls == [["tests-c", "tests-b", "tests-a"]]
    assert sorted(ScheduledJob.objects.values_list("name", flat=True)) == [
        "tests-later",
        "tests-z",
    ]


def test_a_failing_batch_runs_its_jobs_one_by_one_so_one_bad_job_holds_back_no_other(
    inline_runtime: InlineRuntime, register_job_handler: Callable[..., None]
) -> None:
    batch_calls: list[int] = []

    def one(name: str, data: dict[str, Any]) -> None:
        jobs.schedule(name=f"tests-effect-of-{name}", due_at=timezone.now() + timedelta(days=1))
        if data.get("bad"):
            raise RuntimeError("poison")

    def many(due: Sequence[DueJob]) -> None:
        batch_calls.append(len(due))
        for job in due:
            one(job.name, job.data)

    register_job_handler("tests-", one, many)
    now = timezone.now()
    with transaction.atomic():
        jobs.schedule(name="tests-good", due_at=now - timedelta(seconds=2))
        jobs.schedule(name="tests-bad", due_at=now - timedelta(seconds=1), data={"bad": True})
        jobs.schedule(name="tests-fine", due_at=now)

    fired = run_due_jobs(now=now, retry_delay=timedelta(minutes=5), limit=10)

    assert fired == ["tests-good", "tests-bad", "tests-fine"]
    # The batch's writes were rolled back; run alone, the good jobs did their work and the bad
    # one is back in the table, five minutes later, for a retry.
    assert batch_calls == [3]
    remaining = dict(ScheduledJob.objects.values_list("name", "attempts"))
    assert remaining == {
        "tests-effect-of-tests-good": 0,
        "tests-effect-of-tests-fine": 0,
        "tests-bad": 1,
    }
    assert ScheduledJob.objects.get(name="tests-bad").due_at > now + timedelta(minutes=4)


def test_a_job_without_a_handler_is_dropped(inline_runtime: InlineRuntime) -> None:
    with transaction.atomic():
        jobs.schedule(name="nobody-handles-this", due_at=timezone.now())

    assert inline_runtime.fire_due_jobs() == ["nobody-handles-this"]
    assert not ScheduledJob.objects.exists()
