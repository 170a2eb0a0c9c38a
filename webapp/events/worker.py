"""Worker processes under Dapr: the gRPC app daprd calls, and a small HTTP side for probes.

`build_app(app_id)` answers daprd's ListTopicSubscriptions with one programmatic subscription
per topic that app-id's subscribers listen to (each with its `<topic>-dlq` dead-letter topic),
runs every matching subscriber through the consumer guard on OnTopicEvent, keeps what daprd
dead-letters as DeadLetter rows (listed and replayed like the local runtime's), and
dispatches OnJobEvent by job-name prefix to the registered job handlers. `run_worker` serves
it until SIGTERM or SIGINT, letting the calls in hand finish.
"""

from __future__ import annotations

import contextlib
import json
import logging
import signal
import socket
import threading
from collections import defaultdict
from collections.abc import Iterable
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from dapr.ext.grpc import App, SubscriptionMessage, TopicEventResponse
from dapr.proto import appcallback_v1
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections, connections, transaction
from prometheus_client import CONTENT_TYPE_LATEST, Counter, generate_latest

from webapp.events.guard import deliver_once, record_dead_letter
from webapp.events.registry import Envelope, Subscription, job_route_for, subscriptions
from webapp.events.retries import deliver_or_park, retry_due
from webapp.events.runtime import get_runtime
from webapp.events.topics import dead_letter_topic

logger = logging.getLogger(__name__)

# CloudEvent attributes daprd moves out of the envelope into TopicEventRequest's own fields.
_CORE_FIELDS = ("specversion", "id", "source", "type", "datacontenttype")
# Attributes daprd adds to every event it delivers; they are not part of our envelope.
# traceparent and tracestate are kept: our envelope carries them (webapp/tracing.py), and
# daprd passes on the trace it continued, which the handler's logs then carry.
_DAPR_ADDED = {"traceid", "topic", "pubsubname", "expiration"}
# Calls daprd may have in flight at once (the SDK's default).
WORKER_THREADS = 10
# Seconds in-flight calls get to finish after SIGTERM (Kubernetes waits 30 s by default).
SHUTDOWN_GRACE_SECONDS = 20.0
# How often the worker looks for due retries in the schedule (a small table).
RETRY_TICK_SECONDS = 1.0

EVENTS = Counter(
    "todo_worker_events", "Events a worker handled, by consumer", ["app_id", "consumer", "outcome"]
)
JOBS = Counter("todo_worker_jobs", "Jobs a worker ran, by prefix", ["app_id", "prefix", "outcome"])


def envelope_from_message(message: Any) -> Envelope:
    """Rebuild the structured CloudEvent we published from a SubscriptionMessage."""
    raw = message.raw_data()
    envelope: Envelope = {
        key: value for key, value in message.extensions().items() if key not in _DAPR_ADDED
    }
    envelope.update(
        {
            "specversion": message.spec_version() or "1.0",
            "id": message.id(),
            "source": message.source(),
            "type": message.type(),
            "datacontenttype": message.data_content_type() or "application/json",
            "data": json.loads(raw) if raw else None,
        }
    )
    return envelope


def _topic_handler(app_id: str, topic: str, subscribers: list[Subscription]) -> Any:
    def handle(message: SubscriptionMessage) -> TopicEventResponse:
        received: Any = message  # the SDK's class has no type hints
        close_old_connections()
        consumer = ""
        try:
            envelope = envelope_from_message(received)
            # Types no subscriber here wants are acknowledged and ignored.
            # A handler that fails parks the event in the retry schedule (retries.py) and the
            # message is acknowledged: the Kafka partition, shared by many users, moves on.
            for subscription in (s for s in subscribers if s.accepts(envelope)):
                consumer = subscription.consumer
                outcome = deliver_or_park(subscription, envelope)
                EVENTS.labels(app_id, consumer, outcome.value).inc()
        except Exception:
            # Not a handler failure but the schedule itself out of reach (the database down).
            EVENTS.labels(app_id, consumer or "-", "failed").inc()
            logger.exception(
                "event could not be delivered or parked; asking daprd to retry",
                extra={"topic": topic, "event_id": received.id(), "consumer": consumer},
            )
            # An explicit RETRY rather than a raised exception: daprd treats both alike
            # (retries per the resiliency policy, then the dead-letter topic), but the status
            # says what we mean and keeps the SDK from logging the traceback a second time.
            # Subscribers that already succeeded are marked processed, so the retry is a
            # no-op for them.
            return TopicEventResponse("retry")
        finally:
            close_old_connections()
        return TopicEventResponse("success")

    handle.__name__ = handle.__qualname__ = f"on_{topic.replace('-', '_')}"
    return handle


def _dead_letter_handler(app_id: str, topic: str, subscribers: list[Subscription]) -> Any:
    """Keeps an event daprd moved to `<topic>-dlq` as a dead letter an operator can replay.

    The dead-letter topic is shared by every app-id subscribed to `topic` and does not say
    which consumer failed, so each subscriber here gets one last delivery through the guard:
    one that already has the event skips it, one that was merely behind (another app-id
    failed) now succeeds, and one that fails again is recorded with its error.
    """

    def handle(message: SubscriptionMessage) -> TopicEventResponse:
        received: Any = message  # the SDK's class has no type hints
        close_old_connections()
        try:
            envelope = envelope_from_message(received)
            for subscription in (s for s in subscribers if s.accepts(envelope)):
                try:
                    deliver_once(subscription, envelope)
                except Exception as exc:
                    EVENTS.labels(app_id, subscription.consumer, "dead-lettered").inc()
                    record_dead_letter(
                        subscription.consumer,
                        subscription.topic,
                        envelope,
                        error=exc,
                        attempts=2 + settings.EVENT_RETRY_ATTEMPTS,
                    )
        except Exception:
            logger.exception(
                "could not keep a dead letter; asking daprd to retry",
                extra={"topic": dead_letter_topic(topic), "event_id": received.id()},
            )
            return TopicEventResponse("retry")
        finally:
            close_old_connections()
        return TopicEventResponse("success")

    handle.__name__ = handle.__qualname__ = f"on_{topic.replace('-', '_')}_dead_letter"
    return handle


def _job_handler(app_id: str) -> Any:
    def handle(request: Any, context: grpc.ServicerContext) -> Any:
        name = request.name
        route = job_route_for(name)
        if route is None or route.app_id != app_id:
            logger.error("no handler for job", extra={"job": name, "app_id": app_id})
            # An error, so the Scheduler retries it per its failure policy (a worker of a
            # newer version may be rolling out) before it drops it.
            context.abort(grpc.StatusCode.NOT_FOUND, f"no handler for job {name}")
            return None  # abort() raises; this line is never reached
        close_old_connections()
        try:
            raw = request.data.value if request.HasField("data") else b""
            data = json.loads(raw) if raw else {}
            if not isinstance(data, dict):
                raise ValueError(f"job data is {type(data).__name__}, not an object")
            # Like the other runtimes: the handler's writes and the jobs it schedules commit
            # together, or not at all and the Scheduler fires the job again.
            with transaction.atomic():
                route.handler(name, data)
        except Exception:
            JOBS.labels(app_id, route.prefix, "failed").inc()
            logger.exception("job handler failed", extra={"job": name})
            raise
        finally:
            close_old_connections()
        JOBS.labels(app_id, route.prefix, "processed").inc()
        return appcallback_v1.JobEventResponse()

    return handle


def _by_topic(items: Iterable[Subscription]) -> dict[str, list[Subscription]]:
    grouped: dict[str, list[Subscription]] = defaultdict(list)
    for subscription in sorted(items, key=lambda s: (s.topic, s.consumer)):
        grouped[subscription.topic].append(subscription)
    return dict(grouped)


class WorkerApp(App):
    """The SDK's App on a thread pool whose database connections it closes when stopped.

    Each pool thread keeps its own connection between messages (CONN_MAX_AGE); left open at
    shutdown they would outlive the app.
    """

    def __init__(self, *, max_workers: int = WORKER_THREADS) -> None:
        self._pool = futures.ThreadPoolExecutor(max_workers, thread_name_prefix="dapr-app")
        self._max_workers = max_workers
        self._stopped = False
        super().__init__(thread_pool=self._pool)

    def stop(self, grace: float | None = None) -> None:
        """Refuse new calls, let calls in hand finish within `grace` seconds, then clean up."""
        if self._stopped:
            return
        self._stopped = True
        self._server.stop(grace).wait()
        self._close_pool_connections()
        self._pool.shutdown(wait=False)

    def _close_pool_connections(self) -> None:
        # One task per thread: the barrier keeps each task on its thread until all have run,
        # so every pool thread closes its own connection (Django's are per thread).
        barrier = threading.Barrier(self._max_workers)

        def close() -> None:
            connections.close_all()
            with contextlib.suppress(threading.BrokenBarrierError):
                barrier.wait(timeout=10)

        tasks = [self._pool.submit(close) for _ in range(self._max_workers)]
        futures.wait(tasks, timeout=15)


def build_app(app_id: str) -> WorkerApp:
    """The gRPC app for `app_id`: its subscriptions and its jobs."""
    app = WorkerApp()
    # daprd's app health probe (when enabled) only needs the process to answer; database
    # trouble shows in /readyz and in the handlers' retries.
    app.register_health_check(lambda: None)  # type: ignore[no-untyped-call]
    for topic, subscribers in _by_topic(subscriptions(app_id=app_id)).items():
        app.subscribe(
            pubsub_name=settings.DAPR_PUBSUB_NAME,
            topic=topic,
            metadata={},
            dead_letter_topic=dead_letter_topic(topic),
        )(_topic_handler(app_id, topic, subscribers))
        app.subscribe(
            pubsub_name=settings.DAPR_PUBSUB_NAME, topic=dead_letter_topic(topic), metadata={}
        )(_dead_letter_handler(app_id, topic, subscribers))
    # The SDK routes job events by exact name only, and answers UNIMPLEMENTED for any other;
    # our jobs are per entity (`reminder-<uuid>`). Its OnJobEvent and OnJobEventAlpha1 both
    # hand the request to this one method, so replacing it routes both by prefix.
    app._servicer._handle_job_event = _job_handler(app_id)  # type: ignore[method-assign]
    return app


# --- the worker process ------------------------------------------------------------------------


def run_retries(app_id: str, stopping: threading.Event) -> None:
    """Deliver the due retries of this app-id's consumers every tick until `stopping`."""
    consumers = [subscription.consumer for subscription in subscriptions(app_id=app_id)]
    while not stopping.wait(RETRY_TICK_SECONDS):
        close_old_connections()
        try:
            for outcome in retry_due(consumers=consumers).outcomes:
                EVENTS.labels(app_id, "-", f"retry-{outcome.value}").inc()
        except Exception:
            logger.exception("retry pass failed; trying again at the next tick")
    connections.close_all()


def _probe_handler(app_id: str, stopping: threading.Event) -> type[BaseHTTPRequestHandler]:
    from webapp.health import database_problem

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/metrics":
                self._send(200, generate_latest(), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._json(200, {"status": "ok", "app_id": app_id})
            elif path == "/readyz":
                self._json(*_readiness(stopping, database_problem))
            else:
                self._json(404, {"detail": "not found"})

        def _json(self, status: int, body: dict[str, Any]) -> None:
            self._send(status, json.dumps(body).encode(), "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return  # probes every few seconds would drown the log

    return Handler


def _readiness(stopping: threading.Event, database_problem: Any) -> tuple[int, dict[str, Any]]:
    close_old_connections()
    try:
        database = database_problem()
        events = get_runtime().health_problem()
    finally:
        # Probe threads come and go; do not leave their connections behind.
        connections.close_all()
    problems = {"database": database or "ok", "events": events or "ok"}
    if stopping.is_set():
        problems["worker"] = "stopping"
    ready = all(value == "ok" for value in problems.values())
    return (200 if ready else 503), {
        "status": "ok" if ready else "unavailable",
        "checks": problems,
    }


class _ProbeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)


def run_worker(
    *,
    app_id: str,
    grpc_port: int,
    http_port: int,
    stop: threading.Event | None = None,
    listen_address: str = "[::]",
) -> None:
    """Serve the app-callback for `app_id` until SIGTERM/SIGINT (or `stop` is set).

    On stop, new calls are refused, the calls in hand get SHUTDOWN_GRACE_SECONDS to finish
    (daprd redelivers anything not acknowledged), then the relay publishes what it has and
    the process returns.
    """
    runtime = get_runtime()
    if runtime.name == "local":
        raise ImproperlyConfigured(
            "the workers serve Dapr; with EVENT_RUNTIME=local, `manage.py serve` runs every "
            "subscriber in one process"
        )
    stopping = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stopping.set())

    app = build_app(app_id)
    # Not app.run(): it blocks without a way to stop gracefully from a signal handler.
    server = app._server
    server.add_insecure_port(f"{listen_address}:{grpc_port}")
    probes = _ProbeServer((listen_address.strip("[]"), http_port), _probe_handler(app_id, stopping))
    threading.Thread(target=probes.serve_forever, name="worker-probes", daemon=True).start()
    runtime.start()  # publishes what this worker's handlers emit
    retrier = threading.Thread(
        target=run_retries, args=(app_id, stopping), name="worker-retries", daemon=True
    )
    retrier.start()
    server.start()
    logger.info(
        "worker started",
        extra={"app_id": app_id, "grpc_port": grpc_port, "http_port": http_port},
    )
    try:
        # A timeout so the main thread wakes to run a signal handler promptly.
        while not stopping.wait(1.0):
            pass
    finally:
        logger.info("worker stopping", extra={"app_id": app_id})
        app.stop(grace=SHUTDOWN_GRACE_SECONDS)
        retrier.join(SHUTDOWN_GRACE_SECONDS)
        runtime.stop()
        probes.shutdown()
        probes.server_close()
        connections.close_all()
        logger.info("worker stopped", extra={"app_id": app_id})
