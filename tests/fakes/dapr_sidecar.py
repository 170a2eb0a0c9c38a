"""A fake Dapr sidecar speaking the real `dapr.proto.runtime.v1` gRPC API, and an app driver.

daprd cannot be installed here, so tests talk to this instead, over real gRPC and HTTP:

- `FakeDaprSidecar` serves the sidecar side (the calls an app makes: publish, jobs, secrets,
  state) on 127.0.0.1, plus the HTTP health endpoints the SDK polls before its first call.
  Every request is recorded as decoded Python values, and `fail_next()` makes the next N
  calls of a method fail with a gRPC status, as a sidecar with its broker down would.
- `AppDriver` calls a worker's `dapr.ext.grpc.App` the way daprd does: ListTopicSubscriptions,
  OnTopicEvent with a TopicEventRequest built from a structured CloudEvent, OnJobEvent.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from dapr.ext.grpc import App
from dapr.proto import api_v1, appcallback_service_v1, appcallback_v1
from dapr.proto.runtime.v1 import dapr_pb2_grpc
from google.protobuf import empty_pb2
from google.protobuf.any_pb2 import Any as AnyProto
from google.protobuf.json_format import MessageToDict
from google.protobuf.struct_pb2 import Struct

# The CloudEvent attributes daprd passes in TopicEventRequest's own fields; every other
# attribute of the envelope reaches the app in `extensions`.
_CORE_ATTRIBUTES = {"id", "source", "type", "specversion", "datacontenttype", "data"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _decode_json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


@dataclass(frozen=True)
class Published:
    pubsub: str
    topic: str
    raw: bytes
    content_type: str
    metadata: dict[str, str]
    bulk_entry_id: str = ""

    @property
    def data(self) -> Any:
        """The payload parsed as JSON (None if it is not JSON)."""
        return _decode_json(self.raw)


@dataclass(frozen=True)
class FailurePolicy:
    kind: str  # "constant", "drop" or "" (none given)
    max_retries: int | None = None
    interval_seconds: float | None = None


@dataclass(frozen=True)
class ScheduledJob:
    name: str
    due_time: str
    schedule: str
    repeats: int | None
    ttl: str
    data: bytes
    data_type_url: str
    failure_policy: FailurePolicy
    overwrite: bool
    method: str

    @property
    def payload(self) -> Any:
        """`data` parsed as JSON (None if it is not JSON)."""
        return _decode_json(self.data)


@dataclass(frozen=True)
class Call:
    method: str
    request: Any  # the protobuf request as received


@dataclass
class _Failure:
    remaining: int
    code: grpc.StatusCode
    message: str


def _failure_policy(job: Any) -> FailurePolicy:
    if not job.HasField("failure_policy"):
        return FailurePolicy("")
    policy = job.failure_policy
    if policy.HasField("drop"):
        return FailurePolicy("drop")
    constant = policy.constant
    return FailurePolicy(
        "constant",
        max_retries=constant.max_retries if constant.HasField("max_retries") else None,
        interval_seconds=(
            constant.interval.seconds + constant.interval.nanos / 1e9
            if constant.HasField("interval")
            else None
        ),
    )


@dataclass
class FakeDaprSidecar(dapr_pb2_grpc.DaprServicer):
    """The sidecar side of the Dapr API, in memory. Start with `start()`, end with `stop()`."""

    # store -> key -> value; a dict value is a secret with several data keys, the way a
    # Kubernetes Secret answers (Azure Key Vault answers {key: value}).
    secrets: dict[str, dict[str, str | dict[str, str]]] = field(default_factory=dict)
    healthy: bool = True
    calls: list[Call] = field(default_factory=list)
    published: list[Published] = field(default_factory=list)
    scheduled: list[ScheduledJob] = field(default_factory=list)
    deleted_jobs: list[str] = field(default_factory=list)
    secret_requests: list[tuple[str, str]] = field(default_factory=list)  # (store, key)
    state: dict[str, dict[str, bytes]] = field(default_factory=dict)  # store -> key -> value
    jobs: dict[str, ScheduledJob] = field(default_factory=dict)  # what the Scheduler holds
    grpc_port: int = 0
    http_port: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._failures: dict[str, _Failure] = {}
        self._server: grpc.Server | None = None
        self._http: ThreadingHTTPServer | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> FakeDaprSidecar:
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        dapr_pb2_grpc.add_DaprServicer_to_server(self, self._server)  # type: ignore[no-untyped-call]
        self.grpc_port = self._server.add_insecure_port("127.0.0.1:0")
        self._server.start()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._http_handler())
        self.http_port = self._http.server_address[1]
        threading.Thread(
            target=self._http.serve_forever, name="fake-dapr-http", daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop(grace=None)
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()

    @property
    def grpc_endpoint(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    # --- test controls -----------------------------------------------------------------------

    def fail_next(
        self,
        method: str,
        times: int = 1,
        *,
        code: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE,
        message: str = "injected failure",
    ) -> None:
        """Make the next `times` calls of `method` (e.g. "PublishEvent") fail with `code`."""
        with self._lock:
            self._failures[method] = _Failure(times, code, message)

    def calls_of(self, method: str) -> list[Any]:
        with self._lock:
            return [call.request for call in self.calls if call.method == method]

    def published_to(self, topic: str) -> list[Published]:
        with self._lock:
            return [event for event in self.published if event.topic == topic]

    def _enter(self, method: str, request: Any, context: grpc.ServicerContext) -> None:
        """Record the call, then fail it if a failure was injected for `method`."""
        with self._lock:
            self.calls.append(Call(method, request))
            failure = self._failures.get(method)
            if failure is not None and failure.remaining > 0:
                failure.remaining -= 1
            else:
                failure = None
        if failure is not None:
            context.abort(failure.code, failure.message)

    # --- pub/sub -----------------------------------------------------------------------------

    def PublishEvent(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("PublishEvent", request, context)
        with self._lock:
            self.published.append(
                Published(
                    pubsub=request.pubsub_name,
                    topic=request.topic,
                    raw=bytes(request.data),
                    content_type=request.data_content_type,
                    metadata=dict(request.metadata),
                )
            )
        return empty_pb2.Empty()

    def _bulk_publish(self, method: str, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter(method, request, context)
        with self._lock:
            for entry in request.entries:
                self.published.append(
                    Published(
                        pubsub=request.pubsub_name,
                        topic=request.topic,
                        raw=bytes(entry.event),
                        content_type=entry.content_type,
                        metadata={**dict(request.metadata), **dict(entry.metadata)},
                        bulk_entry_id=entry.entry_id,
                    )
                )
        return api_v1.BulkPublishResponse()

    def BulkPublishEvent(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._bulk_publish("BulkPublishEvent", request, context)

    def BulkPublishEventAlpha1(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._bulk_publish("BulkPublishEventAlpha1", request, context)

    # --- jobs --------------------------------------------------------------------------------

    def _schedule(self, method: str, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter(method, request, context)
        job = request.job
        record = ScheduledJob(
            name=job.name,
            due_time=job.due_time if job.HasField("due_time") else "",
            schedule=job.schedule if job.HasField("schedule") else "",
            repeats=job.repeats if job.HasField("repeats") else None,
            ttl=job.ttl if job.HasField("ttl") else "",
            data=bytes(job.data.value),
            data_type_url=job.data.type_url,
            failure_policy=_failure_policy(job),
            overwrite=request.overwrite,
            method=method,
        )
        with self._lock:
            exists = record.name in self.jobs
            if not exists or record.overwrite:
                self.scheduled.append(record)
                self.jobs[record.name] = record
        if exists and not record.overwrite:
            # What the Scheduler answers for a duplicate name without overwrite.
            context.abort(grpc.StatusCode.ALREADY_EXISTS, f"job {record.name} already exists")
        return api_v1.ScheduleJobResponse()

    def ScheduleJob(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._schedule("ScheduleJob", request, context)

    def ScheduleJobAlpha1(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._schedule("ScheduleJobAlpha1", request, context)

    def _get_job(self, method: str, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter(method, request, context)
        with self._lock:
            record = self.jobs.get(request.name)
        if record is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"job {request.name} not found")
        assert record is not None
        job = api_v1.Job(name=record.name, data=AnyProto(type_url=record.data_type_url))
        job.data.value = record.data
        if record.due_time:
            job.due_time = record.due_time
        return api_v1.GetJobResponse(job=job)

    def GetJob(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._get_job("GetJob", request, context)

    def GetJobAlpha1(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._get_job("GetJobAlpha1", request, context)

    def _delete_job(self, method: str, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter(method, request, context)
        with self._lock:
            self.deleted_jobs.append(request.name)
            existed = self.jobs.pop(request.name, None) is not None
        if not existed:
            context.abort(grpc.StatusCode.NOT_FOUND, f"job {request.name} not found")
        return api_v1.DeleteJobResponse()

    def DeleteJob(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._delete_job("DeleteJob", request, context)

    def DeleteJobAlpha1(self, request: Any, context: grpc.ServicerContext) -> Any:
        return self._delete_job("DeleteJobAlpha1", request, context)

    # --- secrets -----------------------------------------------------------------------------

    def GetSecret(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("GetSecret", request, context)
        with self._lock:
            self.secret_requests.append((request.store_name, request.key))
            store = self.secrets.get(request.store_name)
        if store is None:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"secret store {request.store_name} not found"
            )
        assert store is not None
        if request.key not in store:
            context.abort(grpc.StatusCode.NOT_FOUND, f"secret {request.key} not found")
        value = store[request.key]
        return api_v1.GetSecretResponse(
            data=value if isinstance(value, dict) else {request.key: value}
        )

    def GetBulkSecret(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("GetBulkSecret", request, context)
        with self._lock:
            store = self.secrets.get(request.store_name)
        if store is None:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, f"secret store {request.store_name} not found"
            )
        assert store is not None
        return api_v1.GetBulkSecretResponse(
            data={
                key: api_v1.SecretResponse(
                    secrets=value if isinstance(value, dict) else {key: value}
                )
                for key, value in store.items()
            }
        )

    # --- state -------------------------------------------------------------------------------

    def SaveState(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("SaveState", request, context)
        with self._lock:
            store = self.state.setdefault(request.store_name, {})
            for item in request.states:
                store[item.key] = bytes(item.value)
        return empty_pb2.Empty()

    def GetState(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("GetState", request, context)
        with self._lock:
            value = self.state.get(request.store_name, {}).get(request.key)
        # A missing key is an empty answer, not an error, as in daprd.
        return api_v1.GetStateResponse(data=value or b"", etag="1" if value is not None else "")

    def DeleteState(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("DeleteState", request, context)
        with self._lock:
            self.state.get(request.store_name, {}).pop(request.key, None)
        return empty_pb2.Empty()

    # --- HTTP --------------------------------------------------------------------------------

    def _http_handler(self) -> type[BaseHTTPRequestHandler]:
        sidecar = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path.split("?")[0] in {"/v1.0/healthz", "/v1.0/healthz/outbound"}:
                    self.send_response(204 if sidecar.healthy else 500)
                else:
                    self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output quiet

        return Handler


# --- driving an app as daprd does --------------------------------------------------------------


def topic_event_request(envelope: dict[str, Any], *, topic: str, pubsub: str = "pubsub") -> Any:
    """The TopicEventRequest daprd sends for a structured CloudEvent published to `topic`.

    daprd takes id, source, type, specversion and datacontenttype into their own fields, sends
    `data` re-encoded as bytes, and passes every other attribute (subject, time, the
    partitionkey and sequence extensions, its own trace and topic fields) in `extensions`.
    """
    extensions = Struct()
    extensions.update(
        {
            **{key: value for key, value in envelope.items() if key not in _CORE_ATTRIBUTES},
            "pubsubname": pubsub,
            "topic": topic,
            "traceid": "00-00000000000000000000000000000000-0000000000000000-00",
        }
    )
    content_type = envelope.get("datacontenttype", "application/json")
    return appcallback_v1.TopicEventRequest(
        id=envelope["id"],
        source=envelope.get("source", ""),
        type=envelope.get("type", ""),
        spec_version=envelope.get("specversion", "1.0"),
        data_content_type=content_type,
        data=json.dumps(envelope.get("data")).encode(),
        topic=topic,
        pubsub_name=pubsub,
        path="",
        extensions=extensions,
    )


class AppDriver:
    """Serves an App on a free port and calls it over gRPC as daprd would."""

    def __init__(self, app: App) -> None:
        self.app = app
        server = app._server
        self.port: int = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._channel = grpc.insecure_channel(f"127.0.0.1:{self.port}")
        self._stub = appcallback_service_v1.AppCallbackStub(self._channel)  # type: ignore[no-untyped-call]
        self._alpha = appcallback_service_v1.AppCallbackAlphaStub(self._channel)  # type: ignore[no-untyped-call]
        self._health = appcallback_service_v1.AppCallbackHealthCheckStub(self._channel)  # type: ignore[no-untyped-call]

    def close(self) -> None:
        self._channel.close()
        self.app.stop()

    def list_subscriptions(self) -> list[dict[str, Any]]:
        """ListTopicSubscriptions, as plain dicts (pubsubName, topic, deadLetterTopic...)."""
        response = self._stub.ListTopicSubscriptions(empty_pb2.Empty(), timeout=10)
        return [
            MessageToDict(subscription, preserving_proto_field_name=False)
            for subscription in response.subscriptions
        ]

    def deliver(self, envelope: dict[str, Any], *, topic: str, pubsub: str = "pubsub") -> str:
        """OnTopicEvent; returns "success", "retry" or "drop" (raises grpc.RpcError on error)."""
        response = self._stub.OnTopicEvent(
            topic_event_request(envelope, topic=topic, pubsub=pubsub), timeout=30
        )
        status = appcallback_v1.TopicEventResponse.TopicEventResponseStatus.Name(response.status)
        return str(status).lower()

    def fire_job(self, name: str, data: dict[str, Any] | bytes, *, alpha: bool = False) -> None:
        """OnJobEvent (or OnJobEventAlpha1 as daprd before 1.18); raises grpc.RpcError on error."""
        raw = data if isinstance(data, bytes) else json.dumps(data).encode()
        request = appcallback_v1.JobEventRequest(
            name=name, data=AnyProto(value=raw), method=f"job/{name}"
        )
        if alpha:
            self._alpha.OnJobEventAlpha1(request, timeout=30)
        else:
            self._stub.OnJobEvent(request, timeout=30)

    def health_check(self) -> None:
        self._health.HealthCheck(empty_pb2.Empty(), timeout=10)


@contextmanager
def serve_app(app: App) -> Iterator[AppDriver]:
    driver = AppDriver(app)
    try:
        yield driver
    finally:
        driver.close()


__all__ = [
    "AppDriver",
    "Call",
    "FailurePolicy",
    "FakeDaprSidecar",
    "Published",
    "ScheduledJob",
    "free_port",
    "serve_app",
    "topic_event_request",
]
