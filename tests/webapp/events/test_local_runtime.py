"""The local runtime's threads: relay, per-user partitions, retries, restarts and the job timer.

Threads make short real waits unavoidable here; each wait polls and is bounded by a timeout.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import override_settings
from django.utils import timezone

from tests.conftest import make_user, wait_until
from tests.webapp.events.conftest import Register, emit_test_event
from webapp.events import jobs
from webapp.events.guard import deliver_once
from webapp.events.models import (
    DeadLetter,
    OutboxEvent,
    ParkedDelivery,
    ProcessedEvent,
    ScheduledJob,
)
from webapp.events.registry import Envelope, subscriptions_for
from webapp.events.runtime import set_runtime
from webapp.events.runtimes.local import LocalRuntime


def pending_count() -> int:
    return OutboxEvent.objects.filter(published_at__isnull=True).count()


def settled() -> bool:
    """Nothing left to deliver: no pending row and no retry waiting in the schedule."""
    return pending_count() == 0 and not ParkedDelivery.objects.exists()


@pytest.fixture
def runtime() -> Iterator[LocalRuntime]:
    """Installed but not started: the process before start(), or after a crash."""
    local = LocalRuntime(workers=2, relay_tick_seconds=1.0, timer_tick_seconds=60.0)
    set_runtime(local)
    yield local
    local.stop()  # before the database is flushed: the threads hold connections


class Recorder:
    def __init__(self) -> None:
        self.seen: list[Envelope] = []
        self._lock = threading.Lock()

    def __call__(self, envelope: Envelope) -> None:
        with self._lock:
            self.seen.append(envelope)

    def ids(self) -> list[str]:
        with self._lock:
            return [e["id"] for e in self.seen]


def test_events_committed_while_no_runtime_ran_are_delivered_once_after_start(
    runtime: LocalRuntime, owner: User, outsider: User, register_subscriber: Register
) -> None:
    recorder = Recorder()
    register_subscriber(recorder)
    rows = [emit_test_event(owner, n=0), emit_test_event(outsider, n=1), emit_test_event(owner)]
    assert recorder.ids() == [] and pending_count() == 3

    runtime.start()
    wait_until(lambda: pending_count() == 0)
    # One more event, delivered after the first three: a later relay pass that would show any
    # second delivery of the first ones.
    last = emit_test_event(owner, n=3)
    wait_until(lambda: pending_count() == 0)

    assert sorted(recorder.ids()) == sorted(str(r.event_id) for r in [*rows, last])


def test_redelivery_after_a_crash_does_not_rerun_a_consumer_that_processed_the_event(
    runtime: LocalRuntime, owner: User, register_subscriber: Register
) -> None:
    recorder = Recorder()
    register_subscriber(recorder)
    row = emit_test_event(owner)
    # The previous process ran the handler, then died before marking the row published.
    (subscription,) = subscriptions_for(row.envelope, row.topic)
    assert deliver_once(subscription, row.envelope) is True

    runtime.start()
    wait_until(lambda: pending_count() == 0)

    assert recorder.ids() == [str(row.event_id)]
    assert ProcessedEvent.objects.filter(event_id=row.event_id).count() == 1


def test_one_users_events_are_handled_in_commit_order(
    runtime: LocalRuntime, owner: User, outsider: User, register_subscriber: Register
) -> None:
    def slow_recorder(envelope: Envelope) -> None:
        time.sleep(0.002)  # widen the window in which a wrong order would show
        recorder(envelope)

    recorder = Recorder()
    register_subscriber(slow_recorder)
    third = make_user("tess")
    runtime.start()

    for n in range(15):
        for user in (owner, outsider, third):
            emit_test_event(user, n=n)
    wait_until(lambda: pending_count() == 0)

    by_user: dict[str, list[int]] = {}
    for envelope in recorder.seen:
        by_user.setdefault(envelope["partitionkey"], []).append(envelope["data"]["n"])
    assert by_user == {str(u.pk): list(range(15)) for u in (owner, outsider, third)}


@override_settings(EVENT_RETRY_ATTEMPTS=3, EVENT_RETRY_DELAY_SECONDS=0.05)
def test_a_handler_that_recovers_within_its_retries_processes_the_event(
    runtime: LocalRuntime, owner: User, register_subscriber: Register
) -> None:
    calls: list[float] = []

    def flaky(envelope: Envelope) -> None:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise RuntimeError("not yet")

    register_subscriber(flaky)
    runtime.start()
    row = emit_test_event(owner)
    wait_until(settled)

    assert len(calls) == 3
    assert all(later - earlier >= 0.05 for earlier, later in itertools.pairwise(calls))
    assert not DeadLetter.objects.exists()
    assert ProcessedEvent.objects.filter(event_id=row.event_id).exists()


@override_settings(EVENT_RETRY_ATTEMPTS=3, EVENT_RETRY_DELAY_SECONDS=0.02)
def test_a_handler_failing_every_retry_leaves_one_dead_letter_and_the_row_published(
    runtime: LocalRuntime, owner: User, register_subscriber: Register
) -> None:
    calls: list[str] = []

    def broken(envelope: Envelope) -> None:
        calls.append(envelope["id"])
        raise RuntimeError("always")

    register_subscriber(broken, consumer="tests.broken")
    runtime.start()
    row = emit_test_event(owner)
    wait_until(settled)

    assert len(calls) == 4
    letter = DeadLetter.objects.get()
    assert (letter.consumer, letter.event_id, letter.attempts) == ("tests.broken", row.event_id, 4)


@override_settings(EVENT_RETRY_ATTEMPTS=3, EVENT_RETRY_DELAY_SECONDS=30)
def test_a_failed_event_waits_in_the_schedule_while_other_users_events_flow(
    runtime: LocalRuntime, owner: User, outsider: User, register_subscriber: Register
) -> None:
    """The defect: a poison event slept in its partition, and other users' events in that
    partition waited (or missed their reminders' grace). Now it waits in a table."""
    runtime = LocalRuntime(workers=1, relay_tick_seconds=1.0)  # every user in one partition
    set_runtime(runtime)
    recorder = Recorder()

    def handler(envelope: Envelope) -> None:
        if envelope["data"].get("poison"):
            raise RuntimeError("cannot handle this one")
        recorder(envelope)

    register_subscriber(handler)
    runtime.start()
    try:
        poison = emit_test_event(owner, poison=True)
        wait_until(lambda: ParkedDelivery.objects.filter(attempts=1).exists())
        others = [emit_test_event(outsider, n=n) for n in range(3)]
        wait_until(lambda: len(recorder.ids()) == 3, timeout=3.0)
        # The poisoned user's next event waits behind its failed one: order holds per user.
        behind = emit_test_event(owner, n=99)
        wait_until(lambda: ParkedDelivery.objects.count() == 2)
    finally:
        runtime.stop()

    assert recorder.ids() == [str(row.event_id) for row in others]
    head, follower = ParkedDelivery.objects.order_by("id")
    assert (head.event_id, head.attempts, follower.event_id) == (
        poison.event_id,
        1,
        behind.event_id,
    )
    assert "cannot handle this one" in head.last_error and follower.next_attempt_at is None
    assert pending_count() == 0  # both rows are out of the outbox: the schedule holds them


@override_settings(EVENT_RETRY_ATTEMPTS=3, EVENT_RETRY_DELAY_SECONDS=0.05)
def test_once_the_head_goes_through_the_events_parked_behind_it_follow_in_order(
    runtime: LocalRuntime, owner: User, register_subscriber: Register
) -> None:
    recorder = Recorder()
    failures = iter([True, True])

    def handler(envelope: Envelope) -> None:
        if envelope["data"]["n"] == 0 and next(failures, False):
            raise RuntimeError("not yet")
        recorder(envelope)

    register_subscriber(handler)
    with override_settings(EVENT_RETRY_DELAY_SECONDS=30):
        runtime.start()
        rows = [emit_test_event(owner, n=0)]
        wait_until(lambda: ParkedDelivery.objects.count() == 1)
        rows += [emit_test_event(owner, n=n) for n in range(1, 4)]
        wait_until(lambda: ParkedDelivery.objects.count() == 4)
    # Bring the head's retry forward, as its time had come; a restart picks the schedule up.
    runtime.stop()
    ParkedDelivery.objects.update(next_attempt_at=timezone.now())
    runtime.start()
    wait_until(settled)

    assert recorder.ids() == [str(row.event_id) for row in rows]
    assert not DeadLetter.objects.exists()


def test_health_reports_a_running_runtime_as_healthy(runtime: LocalRuntime) -> None:
    runtime.start()

    assert runtime.running and runtime.health_problem() is None

    runtime.stop()
    assert not runtime.running


def test_job_timer_fires_a_due_job(
    runtime: LocalRuntime, register_job_handler: Callable[..., None]
) -> None:
    fired: list[tuple[str, dict[str, object]]] = []
    register_job_handler("tests-", lambda name, data: fired.append((name, data)))
    runtime.start()

    with transaction.atomic():
        jobs.schedule(
            name="tests-soon", due_at=timezone.now() + timedelta(seconds=0.2), data={"k": 1}
        )
    wait_until(lambda: bool(fired) and not ScheduledJob.objects.exists())

    assert fired == [("tests-soon", {"k": 1})]
    assert not ScheduledJob.objects.exists()


def test_a_sooner_job_wakes_the_sleeping_timer_early(
    runtime: LocalRuntime, register_job_handler: Callable[..., None]
) -> None:
    fired: list[str] = []
    register_job_handler("tests-", lambda name, data: fired.append(name))
    with transaction.atomic():
        jobs.schedule(name="tests-later", due_at=timezone.now() + timedelta(minutes=30))
    runtime.start()
    time.sleep(0.2)  # let the timer go to sleep until the 30-minute job (capped by its tick)

    scheduled_at = time.monotonic()
    with transaction.atomic():
        jobs.schedule(name="tests-sooner", due_at=timezone.now() + timedelta(seconds=0.1))
    # The handler runs inside the transaction that removes the job: wait for that commit too.
    wait_until(lambda: fired == ["tests-sooner"] and ScheduledJob.objects.count() == 1, timeout=2.0)

    assert time.monotonic() - scheduled_at < 2.0
    assert list(ScheduledJob.objects.values_list("name", flat=True)) == ["tests-later"]


def test_jobs_due_while_the_runtime_was_down_fire_at_start(
    runtime: LocalRuntime, register_job_handler: Callable[..., None]
) -> None:
    fired: list[str] = []
    register_job_handler("tests-", lambda name, data: fired.append(name))
    with transaction.atomic():
        jobs.schedule(name="tests-missed", due_at=timezone.now() - timedelta(hours=1))

    runtime.start()
    wait_until(lambda: bool(fired))

    assert fired == ["tests-missed"]


@override_settings(EVENT_RETRY_ATTEMPTS=2, EVENT_RETRY_DELAY_SECONDS=0.05)
def test_a_failing_job_is_retried_then_dropped(
    runtime: LocalRuntime, register_job_handler: Callable[..., None]
) -> None:
    attempts: list[float] = []

    def broken(name: str, data: dict[str, object]) -> None:
        attempts.append(time.monotonic())
        raise RuntimeError("job down")

    register_job_handler("tests-", broken)
    with transaction.atomic():
        jobs.schedule(name="tests-broken", due_at=timezone.now())
    runtime.start()

    wait_until(lambda: len(attempts) == 3 and not ScheduledJob.objects.exists())
    time.sleep(0.2)  # a fourth attempt would come 0.05 s after the third

    assert len(attempts) == 3
    assert all(later - earlier >= 0.05 for earlier, later in itertools.pairwise(attempts))
