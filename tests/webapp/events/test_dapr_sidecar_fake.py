"""The fake sidecar answers the real SDK client the way daprd does, so other tests can trust it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import grpc
import pytest
from dapr.clients import BulkPublishEntry, DaprClient, Job
from google.protobuf.any_pb2 import Any as AnyProto

from tests.fakes.dapr_sidecar import FakeDaprSidecar


@pytest.fixture
def client(dapr_sidecar: FakeDaprSidecar) -> Iterator[DaprClient]:
    with DaprClient() as dapr:
        yield dapr


def test_state_is_saved_read_and_deleted(client: DaprClient, dapr_sidecar: FakeDaprSidecar) -> None:
    client.save_state(store_name="statestore", key="chat-1", value=json.dumps({"turns": 2}))

    assert json.loads(client.get_state(store_name="statestore", key="chat-1").data) == {"turns": 2}
    client.delete_state(store_name="statestore", key="chat-1")
    assert client.get_state(store_name="statestore", key="chat-1").data == b""
    assert dapr_sidecar.state == {"statestore": {}}


def test_bulk_publish_records_every_entry(
    client: DaprClient, dapr_sidecar: FakeDaprSidecar
) -> None:
    response = client.publish_events(
        pubsub_name="pubsub",
        topic_name="alerts",
        data=[
            BulkPublishEntry(entry_id="1", event='{"n": 1}', content_type="application/json"),
            BulkPublishEntry(entry_id="2", event='{"n": 2}', content_type="application/json"),
        ],
    )

    assert response.failed_entries == []
    assert [(event.bulk_entry_id, event.data) for event in dapr_sidecar.published_to("alerts")] == [
        ("1", {"n": 1}),
        ("2", {"n": 2}),
    ]


def test_bulk_secrets_and_single_secrets_come_from_the_configured_stores(
    client: DaprClient, dapr_sidecar: FakeDaprSidecar
) -> None:
    dapr_sidecar.secrets = {"secretstore": {"a": "1", "b": {"user": "u", "password": "p"}}}

    bulk = client.get_bulk_secret(store_name="secretstore").secrets

    assert bulk == {"a": {"a": "1"}, "b": {"user": "u", "password": "p"}}
    assert client.get_secret(store_name="secretstore", key="a").secret == {"a": "1"}
    with pytest.raises(grpc.RpcError):
        client.get_secret(store_name="secretstore", key="missing")


def test_a_job_is_read_back_and_a_duplicate_without_overwrite_is_refused(
    client: DaprClient,
) -> None:
    job = Job(name="series-1", due_time="2030-01-01T00:00:00Z", data=AnyProto(value=b"{}"))
    client.schedule_job(job)

    assert client.get_job("series-1").due_time == "2030-01-01T00:00:00Z"
    with pytest.raises(grpc.RpcError) as duplicate:
        client.schedule_job(job)
    assert duplicate.value.code() == grpc.StatusCode.ALREADY_EXISTS


def test_injected_failures_hit_only_the_next_calls(
    client: DaprClient, dapr_sidecar: FakeDaprSidecar
) -> None:
    dapr_sidecar.fail_next("PublishEvent", 2, code=grpc.StatusCode.INTERNAL)

    outcomes = []
    for _ in range(3):
        try:
            client.publish_event(pubsub_name="pubsub", topic_name="t", data="{}")
            outcomes.append("ok")
        except grpc.RpcError as exc:
            outcomes.append(exc.code().name)

    assert outcomes == ["INTERNAL", "INTERNAL", "ok"]
    assert len(dapr_sidecar.calls_of("PublishEvent")) == 3
    assert len(dapr_sidecar.published) == 1
