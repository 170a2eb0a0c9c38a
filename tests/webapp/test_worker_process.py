"""The worker process: its probe and metrics endpoints, graceful stop, and the real command
started under EVENT_RUNTIME=dapr against the fake sidecar and stopped with SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import grpc
import pytest
from dapr.proto import appcallback_service_v1
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone
from google.protobuf import empty_pb2

from tests.fakes.dapr_sidecar import FakeDaprSidecar, free_port, topic_event_request
from webapp.events import registry
from webapp.events.envelope import build_envelope
from webapp.events.models import ProcessedEvent
from webapp.events.worker import run_worker

APP_ID = "tests-worker"
TOPIC = "test-parcels"
PARCEL_SENT = "test.parcel.sent.v1"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def http_get(url: str, *, timeout: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def wait_for(condition: Callable[[], bool], *, seconds: float) -> None:
    """Wait for another thread or process to reach a state."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if condition():
                return
        except OSError:
            pass  # not listening yet
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the worker")
        time.sleep(0.05)


def parcel_event(user: User) -> dict[str, Any]:
    envelope = build_envelope(
        event_id=uuid.uuid4(),
        type=PARCEL_SENT,
        subject=f"parcels/{uuid.uuid4()}",
        time=timezone.now(),
        data={"weight": 3},
        partition_key=str(user.pk),
    )
    envelope["sequence"] = "1"
    return envelope


@dataclass
class RunningWorker:
    grpc_port: int
    http_port: int
    stop: threading.Event
    thread: threading.Thread

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.http_port}{path}"

    def deliver(self, envelope: dict[str, Any], *, timeout: float = 30) -> str:
        with grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}") as channel:
            stub = appcallback_service_v1.AppCallbackStub(channel)  # type: ignore[no-untyped-call]
            response = stub.OnTopicEvent(
                topic_event_request(envelope, topic=TOPIC), timeout=timeout
            )
        return "success" if response.status == 0 else f"status {response.status}"

    def refuses_calls(self) -> bool:
        with grpc.insecure_channel(f"127.0.0.1:{self.grpc_port}") as channel:
            stub = appcallback_service_v1.AppCallbackStub(channel)  # type: ignore[no-untyped-call]
            try:
                stub.ListTopicSubscriptions(empty_pb2.Empty(), timeout=5)
            except grpc.RpcError as exc:
                return bool(exc.code() == grpc.StatusCode.UNAVAILABLE)
        return False


@pytest.fixture
def subscribe(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, registry.EventHandler], None]:
    def register(consumer: str, handler: registry.EventHandler) -> None:
        monkeypatch.setitem(
            registry._subscriptions,
            consumer,
            registry.Subscription(consumer, APP_ID, TOPIC, frozenset([PARCEL_SENT]), handler),
        )

    return register


@pytest.fixture
def start_worker() -> Iterator[Callable[[], RunningWorker]]:
    workers: list[RunningWorker] = []

    def start() -> RunningWorker:
        stop = threading.Event()
        grpc_port, http_port = free_port(), free_port()
        thread = threading.Thread(
            target=run_worker,
            kwargs={
                "app_id": APP_ID,
                "grpc_port": grpc_port,
                "http_port": http_port,
                "stop": stop,
                "listen_address": "127.0.0.1",
            },
            daemon=True,
        )
        thread.start()
        worker = RunningWorker(grpc_port, http_port, stop, thread)
        workers.append(worker)
        wait_for(lambda: http_get(worker.url("/healthz"))[0] == 200, seconds=30)
        return worker

    yield start
    for worker in workers:
        worker.stop.set()
        worker.thread.join(60)


def test_the_worker_serves_events_probes_and_metrics(
    subscribe: Callable[[str, registry.EventHandler], None],
    start_worker: Callable[[], RunningWorker],
    owner: User,
) -> None:
    received: list[str] = []
    subscribe("tests.metrics_recorder", lambda envelope: received.append(envelope["id"]))
    worker = start_worker()
    envelope = parcel_event(owner)

    assert worker.deliver(envelope) == "success"
    health = http_get(worker.url("/healthz"))
    ready = http_get(worker.url("/readyz"))
    metrics = http_get(worker.url("/metrics"))

    assert received == [envelope["id"]]
    assert health[0] == 200 and json.loads(health[1])["app_id"] == APP_ID
    assert ready[0] == 200
    assert json.loads(ready[1])["checks"] == {"database": "ok", "events": "ok"}
    assert metrics[0] == 200
    assert (
        b'todo_worker_events_total{app_id="tests-worker",consumer="tests.metrics_recorder",'
        b'outcome="processed"} 1.0' in metrics[1]
    )
    assert http_get(worker.url("/nope"))[0] == 404


def test_stopping_lets_the_event_in_hand_finish_and_refuses_new_ones(
    subscribe: Callable[[str, registry.EventHandler], None],
    start_worker: Callable[[], RunningWorker],
    owner: User,
) -> None:
    entered, release = threading.Event(), threading.Event()

    def slow(envelope: dict[str, Any]) -> None:
        entered.set()
        release.wait(30)

    subscribe("tests.slow", slow)
    worker = start_worker()
    in_hand = parcel_event(owner)
    outcome: list[str] = []
    delivery = threading.Thread(target=lambda: outcome.append(worker.deliver(in_hand)))
    delivery.start()
    assert entered.wait(30)

    worker.stop.set()
    wait_for(worker.refuses_calls, seconds=30)
    readiness = json.loads(http_get(worker.url("/readyz"))[1])
    with pytest.raises(grpc.RpcError) as refused:
        worker.deliver(parcel_event(owner), timeout=5)
    release.set()
    delivery.join(30)
    worker.thread.join(30)

    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert readiness["status"] == "unavailable" and readiness["checks"]["worker"] == "stopping"
    assert outcome == ["success"]
    assert ProcessedEvent.objects.filter(consumer="tests.slow").count() == 1
    assert not worker.thread.is_alive()


def test_the_worker_command_runs_under_dapr_and_exits_cleanly_on_sigterm(
    dapr_sidecar: FakeDaprSidecar, tmp_path: Path
) -> None:
    dapr_sidecar.secrets = {"secretstore": {"django-secret-key": "k" * 50}}
    http_port = free_port()
    parts = urlsplit(os.environ["DATABASE_URL"])
    test_database = urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))
    env = {
        **os.environ,
        "DATABASE_URL": test_database,
        "EVENT_RUNTIME": "dapr",
        "VAR_DIR": str(tmp_path),
    }
    env.pop("TODO_EMBEDDED", None)  # the distributed shape: the secret key comes from Dapr
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and manage.py
        [
            sys.executable,
            "manage.py",
            "run_notifications_worker",
            f"--port={free_port()}",
            f"--http-port={http_port}",
        ],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        wait_for(
            lambda: (
                (
                    process.poll() is None
                    and http_get(f"http://127.0.0.1:{http_port}/readyz")[0] == 200
                )
                or process.poll() is not None
            ),
            seconds=90,
        )
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0, output.decode()
    assert ("secretstore", "django-secret-key") in dapr_sidecar.secret_requests
    assert b"worker stopped" in output
