"""The Dapr runtime against the fake sidecar: publishing the outbox, relay safety, readiness."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client, override_settings
from django.utils import timezone

from tests.conftest import make_user
from tests.fakes.dapr_sidecar import FakeDaprSidecar
from tests.webapp.events.conftest import TEST_TOPIC, emit_test_event
from webapp.events.models import OutboxEvent
from webapp.events.runtime import get_runtime, set_runtime
from webapp.events.runtimes.dapr import RELAY_LOCK_KEY, DaprRuntime


@pytest.fixture
def runtime(dapr_sidecar: FakeDaprSidecar) -> Iterator[DaprRuntime]:
    """A Dapr runtime whose relay the test drives with relay_once()."""
    dapr = DaprRuntime(autostart=False)
    set_runtime(dapr)
    yield dapr
    dapr.stop()


def wait_for(condition: Callable[[], bool], *, seconds: float = 10.0) -> None:
    """Wait for another thread (the relay) to get something done."""
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the relay")
        time.sleep(0.02)


def pending_sequences() -> list[int]:
    return list(
        OutboxEvent.objects.filter(published_at__isnull=True)
        .order_by("sequence")
        .values_list("sequence", flat=True)
    )


def test_published_request_carries_the_envelope_content_type_and_partition_key(
    runtime: DaprRuntime, dapr_sidecar: FakeDaprSidecar, owner: User
) -> None:
    row = emit_test_event(owner, colour="teal")

    assert runtime.relay_once()

    [published] = dapr_sidecar.published
    assert published.pubsub == "pubsub"
    assert published.topic == TEST_TOPIC
    assert published.content_type == "application/cloudevents+json"
    assert published.metadata == {"partitionKey": str(owner.pk)}
    assert published.data == row.envelope
    assert published.data["data"] == {"colour": "teal"}
    assert published.data["sequence"] == str(row.sequence)
    assert pending_sequences() == []


@override_settings(DAPR_PUBSUB_NAME="kafka-pubsub")
def test_it_publishes_to_the_configured_pubsub_component(
    runtime: DaprRuntime, dapr_sidecar: FakeDaprSidecar, owner: User
) -> None:
    emit_test_event(owner)

    runtime.relay_once()

    assert [event.pubsub for event in dapr_sidecar.published] == ["kafka-pubsub"]


def test_a_failed_publish_loses_nothing_and_keeps_the_order(
    runtime: DaprRuntime, dapr_sidecar: FakeDaprSidecar, owner: User
) -> None:
    rows = [emit_test_event(owner, n=n) for n in range(3)]
    dapr_sidecar.fail_next("PublishEvent")

    runtime.relay_once()

    assert dapr_sidecar.published == []
    assert pending_sequences() == [row.sequence for row in rows]
    first = OutboxEvent.objects.get(pk=rows[0].pk)
    assert first.publish_attempts == 1
    assert first.next_attempt_at is not None and first.next_attempt_at > timezone.now()
    assert "injected failure" in first.last_error

    # Before the backoff ends nothing may overtake the failed row.
    runtime.relay_once()
    assert dapr_sidecar.published == []

    with time_machine.travel(first.next_attempt_at + timedelta(seconds=1)):
        runtime.relay_once()

    assert [event.data["data"]["n"] for event in dapr_sidecar.published] == [0, 1, 2]
    assert pending_sequences() == []


def test_a_row_in_backoff_holds_back_only_its_own_users_events(
    runtime: DaprRuntime, dapr_sidecar: FakeDaprSidecar, owner: User, outsider: User
) -> None:
    emit_test_event(owner, n="owner-1")
    emit_test_event(outsider, n="outsider-1")
    emit_test_event(owner, n="owner-2")
    dapr_sidecar.fail_next("PublishEvent")

    runtime.relay_once()  # owner-1 fails; the pass stops
    runtime.relay_once()  # owner-1 waits out its backoff

    assert [event.data["data"]["n"] for event in dapr_sidecar.published] == ["outsider-1"]
    assert len(pending_sequences()) == 2


def test_only_one_relay_runs_at_a_time_across_processes(
    runtime: DaprRuntime, dapr_sidecar: FakeDaprSidecar, owner: User
) -> None:
    emit_test_event(owner)
    other_replica = connection.copy()
    try:
        with other_replica.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s)", [RELAY_LOCK_KEY])

        assert runtime.relay_once() is False
        assert dapr_sidecar.published == []

        with other_replica.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [RELAY_LOCK_KEY])
        assert runtime.relay_once() is True
    finally:
        other_replica.close()

    assert len(dapr_sidecar.published) == 1


def test_commit_hands_the_event_to_the_relay_thread(
    dapr_sidecar: FakeDaprSidecar, owner: User
) -> None:
    dapr = DaprRuntime()
    set_runtime(dapr)
    try:
        row = emit_test_event(owner)
        wait_for(lambda: len(dapr_sidecar.published) == 1)
        wait_for(lambda: not pending_sequences())
    finally:
        dapr.stop()

    assert dapr_sidecar.published[0].data["id"] == str(row.event_id)


def test_the_relay_publishes_rows_left_from_before_when_it_starts(
    dapr_sidecar: FakeDaprSidecar, owner: User
) -> None:
    set_runtime(DaprRuntime(autostart=False))  # a process that died before relaying
    emit_test_event(owner, n=1)
    emit_test_event(owner, n=2)
    assert len(pending_sequences()) == 2

    restarted = DaprRuntime()
    restarted.start()
    try:
        wait_for(lambda: not pending_sequences())
    finally:
        restarted.stop()

    assert [event.data["data"]["n"] for event in dapr_sidecar.published] == [1, 2]


def test_the_relay_retries_a_failed_row_on_its_tick(
    dapr_sidecar: FakeDaprSidecar, owner: User
) -> None:
    dapr = DaprRuntime(retry_tick_seconds=0.2)
    set_runtime(dapr)
    dapr_sidecar.fail_next("PublishEvent")
    try:
        emit_test_event(owner)
        # The backoff after a first failure is one second.
        wait_for(lambda: len(dapr_sidecar.published) == 1)
    finally:
        dapr.stop()

    assert len(dapr_sidecar.calls_of("PublishEvent")) == 2
    assert pending_sequences() == []


# --- readiness ---------------------------------------------------------------------------------


@pytest.fixture
def configured_dapr(dapr_sidecar: FakeDaprSidecar) -> Iterator[None]:
    """EVENT_RUNTIME=dapr as configured in Kubernetes; the runtime is built from settings."""
    with override_settings(EVENT_RUNTIME="dapr"):
        set_runtime(None)
        yield
        get_runtime().stop()


def test_readiness_includes_a_healthy_sidecar(configured_dapr: None, client: Client) -> None:
    response = client.get("/readyz")

    assert get_runtime().name == "dapr"
    assert response.status_code == 200
    assert response.json()["checks"]["events"] == "ok"


def test_readiness_is_503_while_the_sidecar_is_unhealthy(
    configured_dapr: None, dapr_sidecar: FakeDaprSidecar, client: Client
) -> None:
    dapr_sidecar.healthy = False

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["events"] == "dapr sidecar unhealthy: HTTP 500"


def test_readiness_is_503_when_the_sidecar_is_gone(
    configured_dapr: None, dapr_sidecar: FakeDaprSidecar, client: Client
) -> None:
    dapr_sidecar.stop()

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["events"].startswith("dapr sidecar unreachable")


def test_a_readiness_probe_starts_the_relay_of_a_web_process(
    configured_dapr: None, dapr_sidecar: FakeDaprSidecar, client: Client
) -> None:
    set_runtime(DaprRuntime(autostart=False))
    emit_test_event(make_user("wendy"))  # left pending by a process that is gone
    set_runtime(None)  # this process: the runtime EVENT_RUNTIME=dapr configures

    assert client.get("/readyz").status_code == 200
    wait_for(lambda: not pending_sequences())
    assert len(dapr_sidecar.published) == 1
