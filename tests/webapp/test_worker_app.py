"""A worker's gRPC app, driven exactly as daprd drives it (ListTopicSubscriptions, OnTopicEvent,
OnJobEvent), with test-only subscribers and job handlers registered for the length of a test.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from tests.conftest import wait_until
from tests.fakes.dapr_sidecar import AppDriver, FakeDaprSidecar
from webapp.events import jobs, registry
from webapp.events.envelope import build_envelope
from webapp.events.models import DeadLetter, ParkedDelivery, ProcessedEvent
from webapp.events.retries import retry_due
from webapp.events.runtime import set_runtime
from webapp.events.runtimes.dapr import DaprRuntime
from webapp.events.worker import build_app, run_retries

APP_ID = "tests-worker"
ORDERS = "test-orders"
ORDER_PLACED = "test.order.placed.v1"
ORDER_SHIPPED = "test.order.shipped.v1"


@pytest.fixture
def subscribe(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    def register(
        consumer: str,
        handler: registry.EventHandler,
        *,
        topic: str = ORDERS,
        types: Iterable[str] = (ORDER_PLACED,),
        app_id: str = APP_ID,
    ) -> None:
        monkeypatch.setitem(
            registry._subscriptions,
            consumer,
            registry.Subscription(consumer, app_id, topic, frozenset(types), handler),
        )

    return register


@pytest.fixture
def on_jobs(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    def register(prefix: str, handler: registry.JobHandler, *, app_id: str = APP_ID) -> None:
        monkeypatch.setitem(
            registry._job_routes, prefix, registry.JobRoute(prefix, app_id, handler)
        )

    return register


@pytest.fixture
def worker(
    subscribe: Callable[..., None], app_driver: Callable[[Any], AppDriver]
) -> Callable[[], AppDriver]:
    """Builds the app after the test registered its handlers, then serves it."""
    return lambda: app_driver(build_app(APP_ID))


def order_event(user: User, **data: Any) -> dict[str, Any]:
    envelope = build_envelope(
        event_id=uuid.uuid4(),
        type=ORDER_PLACED,
        subject=f"orders/{uuid.uuid4()}",
        time=timezone.now(),
        data=data,
        partition_key=str(user.pk),
    )
    envelope["sequence"] = "17"
    return envelope


def processed(consumer: str) -> int:
    return ProcessedEvent.objects.filter(consumer=consumer).count()


# --- subscriptions -----------------------------------------------------------------------------


def test_it_lists_one_subscription_per_topic_with_its_dead_letter_topic(
    subscribe: Callable[..., None], worker: Callable[[], AppDriver]
) -> None:
    subscribe("tests.a", lambda envelope: None)
    subscribe("tests.b", lambda envelope: None, types=[ORDER_SHIPPED])
    subscribe("tests.c", lambda envelope: None, topic="test-invoices")
    subscribe("other.d", lambda envelope: None, topic="test-elsewhere", app_id="someone-else")

    subscriptions = worker().list_subscriptions()

    assert [(s["pubsubName"], s["topic"], s.get("deadLetterTopic")) for s in subscriptions] == [
        ("pubsub", "test-invoices", "test-invoices-dlq"),
        ("pubsub", "test-invoices-dlq", None),
        ("pubsub", ORDERS, f"{ORDERS}-dlq"),
        ("pubsub", f"{ORDERS}-dlq", None),
    ]


def test_the_real_workers_subscribe_to_the_task_topics() -> None:
    """The apps' own handlers, as registered by their AppConfig.ready()."""
    topics = {s.topic for s in registry.subscriptions(app_id="notifications")}

    assert topics and topics <= {"task-operations", "task-modifications", "alerts"}
    assert build_app("notifications") is not None


# --- topic events ------------------------------------------------------------------------------


def test_an_event_reaches_the_subscriber_as_it_was_published(
    subscribe: Callable[..., None], worker: Callable[[], AppDriver], owner: User
) -> None:
    received: list[dict[str, Any]] = []
    subscribe("tests.recorder", received.append)
    envelope = order_event(owner, order=7, lines=[{"sku": "A", "qty": 2}])

    status = worker().deliver(envelope, topic=ORDERS)

    assert status == "success"
    assert received == [envelope]
    assert processed("tests.recorder") == 1


def test_a_redelivered_event_succeeds_without_a_second_effect(
    subscribe: Callable[..., None], worker: Callable[[], AppDriver], owner: User
) -> None:
    received: list[dict[str, Any]] = []
    subscribe("tests.recorder", received.append)
    envelope = order_event(owner)
    driver = worker()

    assert driver.deliver(envelope, topic=ORDERS) == "success"
    assert driver.deliver(envelope, topic=ORDERS) == "success"

    assert len(received) == 1
    assert processed("tests.recorder") == 1


def test_a_failing_handler_parks_the_event_acknowledges_it_and_a_retry_delivers_it(
    subscribe: Callable[..., None], worker: Callable[[], AppDriver], owner: User
) -> None:
    """The Kafka partition is not held while the handler's trouble lasts (shared by users)."""
    attempts: list[str] = []

    def flaky(envelope: dict[str, Any]) -> None:
        attempts.append(envelope["id"])
        User.objects.filter(pk=owner.pk).update(first_name="changed")
        if len(attempts) == 1:
            raise RuntimeError("database hiccup")

    subscribe("tests.flaky", flaky)
    envelope = order_event(owner)
    driver = worker()

    assert driver.deliver(envelope, topic=ORDERS) == "success"
    assert processed("tests.flaky") == 0
    assert User.objects.get(pk=owner.pk).first_name == ""  # the failed attempt rolled back
    [parked] = ParkedDelivery.objects.all()
    assert (str(parked.event_id), parked.attempts) == (envelope["id"], 1)

    retry_due(consumers=["tests.flaky"], now=parked.next_attempt_at)

    assert processed("tests.flaky") == 1
    assert User.objects.get(pk=owner.pk).first_name == "changed"
    assert not ParkedDelivery.objects.exists()


def test_only_the_subscriber_that_failed_is_retried(
    subscribe: Callable[..., None], worker: Callable[[], AppDriver], owner: User
) -> None:
    calls: list[str] = []
    failures = iter([True, False])

    def steady(envelope: dict[str, Any]) -> None:
        calls.append("steady")

    def shaky(envelope: dict[str, Any]) -> None:
        calls.append("shaky")
        if next(failures):
            raise RuntimeError("not yet")

    subscribe("tests.a_steady", steady)
    subscribe("tests.b_shaky", shaky)
    envelope = order_event(owner)
    driver = worker()

    assert driver.deliver(envelope, topic=ORDERS) == "success"
    retry_due(
        consumers=["tests.a_steady", "tests.b_shaky"], now=timezone.now() + timedelta(hours=1)
    )

    assert calls == ["steady", "shaky", "shaky"]


def test_an_event_type_nobody_here_wants_is_acknowledged_and_ignored(
    subscribe: Callable[..., None], worker: Callable[[], AppDriver], owner: User
) -> None:
    received: list[dict[str, Any]] = []
    subscribe("tests.recorder", received.append)
    envelope = {**order_event(owner), "type": "test.order.audited.v9"}

    assert worker().deliver(envelope, topic=ORDERS) == "success"

    assert received == []
    assert processed("tests.recorder") == 0


def test_only_the_subscribers_of_the_events_type_run(
    subscribe: Callable[..., None], worker: Callable[[], AppDriver], owner: User
) -> None:
    placed: list[str] = []
    shipped: list[str] = []
    subscribe("tests.placed", lambda envelope: placed.append(envelope["type"]))
    subscribe(
        "tests.shipped", lambda envelope: shipped.append(envelope["type"]), types=[ORDER_SHIPPED]
    )

    worker().deliver({**order_event(owner), "type": ORDER_SHIPPED}, topic=ORDERS)

    assert (placed, shipped) == ([], [ORDER_SHIPPED])


# --- dead letters -----------------------------------------------------------------------------


def test_an_event_daprd_dead_lettered_is_kept_for_the_consumer_that_fails_on_it(
    subscribe: Callable[..., None], worker: Callable[[], AppDriver], owner: User
) -> None:
    def broken(envelope: dict[str, Any]) -> None:
        raise ValueError("cannot parse the order")

    subscribe("tests.broken", broken)
    subscribe("tests.fine", lambda envelope: None)
    envelope = order_event(owner)
    driver = worker()
    # daprd dead-letters what it could not hand over (the worker answered RETRY while its
    # database was away, until the resiliency policy gave up).

    assert driver.deliver(envelope, topic=f"{ORDERS}-dlq") == "success"

    [letter] = DeadLetter.objects.all()
    assert (letter.consumer, letter.topic) == ("tests.broken", ORDERS)
    assert str(letter.event_id) == envelope["id"]
    assert letter.envelope == envelope
    assert "cannot parse the order" in letter.error
    assert letter.replayed_at is None


def test_a_dead_letter_of_another_app_id_is_not_kept_here(
    subscribe: Callable[..., None], worker: Callable[[], AppDriver], owner: User
) -> None:
    """The dlq topic is shared: a consumer here that has the event, or was only behind, is fine."""
    received: list[str] = []
    subscribe("tests.recorder", lambda envelope: received.append(envelope["id"]))
    processed_already, behind = order_event(owner), order_event(owner)
    driver = worker()
    driver.deliver(processed_already, topic=ORDERS)

    driver.deliver(processed_already, topic=f"{ORDERS}-dlq")
    driver.deliver(behind, topic=f"{ORDERS}-dlq")

    assert received == [processed_already["id"], behind["id"]]
    assert DeadLetter.objects.count() == 0


# --- job events --------------------------------------------------------------------------------


def test_job_events_are_routed_by_name_prefix(
    on_jobs: Callable[..., None], worker: Callable[[], AppDriver]
) -> None:
    fired: list[tuple[str, str, dict[str, Any]]] = []
    on_jobs("reminder-", lambda name, data: fired.append(("reminder", name, data)))
    on_jobs("series-", lambda name, data: fired.append(("series", name, data)))
    driver = worker()

    driver.fire_job("reminder-x", {"reminder": "x"})
    driver.fire_job("series-x", {"series": "x", "occurrence": "2030-01-01T09:00:00Z"})
    driver.fire_job("reminder-y", b"", alpha=True)  # daprd before 1.18 calls the alpha service

    assert fired == [
        ("reminder", "reminder-x", {"reminder": "x"}),
        ("series", "series-x", {"series": "x", "occurrence": "2030-01-01T09:00:00Z"}),
        ("reminder", "reminder-y", {}),
    ]


def test_a_job_nobody_handles_is_an_error_for_the_scheduler_to_retry(
    on_jobs: Callable[..., None], worker: Callable[[], AppDriver]
) -> None:
    on_jobs("series-", lambda name, data: None, app_id="another-worker")
    driver = worker()

    for name in ("cleanup-1", "series-1"):
        with pytest.raises(grpc.RpcError) as failure:
            driver.fire_job(name, {})
        assert failure.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_failing_job_handler_is_an_error_and_its_writes_roll_back(
    on_jobs: Callable[..., None], worker: Callable[[], AppDriver], owner: User
) -> None:
    def broken(name: str, data: dict[str, Any]) -> None:
        User.objects.filter(pk=owner.pk).update(first_name="half-done")
        raise RuntimeError("mail server down")

    on_jobs("reminder-", broken)

    with pytest.raises(grpc.RpcError) as failure:
        worker().fire_job("reminder-1", {})

    assert failure.value.code() == grpc.StatusCode.UNKNOWN
    assert User.objects.get(pk=owner.pk).first_name == ""


def test_a_handler_schedules_its_follow_up_job_with_the_sidecar(
    on_jobs: Callable[..., None],
    worker: Callable[[], AppDriver],
    dapr_sidecar: FakeDaprSidecar,
) -> None:
    dapr = DaprRuntime(autostart=False)
    set_runtime(dapr)
    next_due = datetime(2030, 1, 8, 9, 0, tzinfo=UTC)

    def materialise(name: str, data: dict[str, Any]) -> None:
        jobs.schedule(name=name, due_at=next_due, data={"occurrence": next_due.isoformat()})

    on_jobs("series-", materialise)
    try:
        worker().fire_job("series-abc", {"occurrence": "2030-01-01T09:00:00+00:00"})
    finally:
        dapr.stop()

    [job] = dapr_sidecar.scheduled
    assert (job.name, job.due_time, job.overwrite) == ("series-abc", "2030-01-08T09:00:00Z", True)
    assert job.payload == {"occurrence": "2030-01-08T09:00:00+00:00"}


def test_the_app_answers_daprs_health_check(worker: Callable[[], AppDriver]) -> None:
    worker().health_check()


def test_the_workers_retry_thread_delivers_what_is_due(
    subscribe: Callable[..., None], worker: Callable[[], AppDriver], owner: User
) -> None:
    failures = iter([True])
    received: list[str] = []

    def shaky(envelope: dict[str, Any]) -> None:
        if next(failures, False):
            raise RuntimeError("not yet")
        received.append(envelope["id"])

    subscribe("tests.shaky", shaky)
    envelope = order_event(owner)
    assert worker().deliver(envelope, topic=ORDERS) == "success"
    ParkedDelivery.objects.update(next_attempt_at=timezone.now())  # its time has come
    stopping = threading.Event()
    retrier = threading.Thread(target=run_retries, args=(APP_ID, stopping))
    retrier.start()
    try:
        wait_until(lambda: received == [envelope["id"]])
    finally:
        stopping.set()
        retrier.join(10)

    assert not retrier.is_alive()
    assert not ParkedDelivery.objects.exists()
