"""The Dapr runtime (Kubernetes): events go out through the sidecar, jobs live in its Scheduler.

Publishing: a relay thread sends committed outbox rows to the sidecar in sequence order, woken
after each commit that emitted and by a periodic tick (rows left by a crash, rows other
processes committed, rows waiting out a backoff). A row stays pending until the sidecar
accepts it, so a sidecar or broker outage loses nothing. With several replicas, a PostgreSQL
advisory lock lets one relay pass run at a time, so each row goes out once and in order.

Subscribers run in the worker processes (webapp/events/worker.py), which daprd calls.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from typing import Any

import grpc
from dapr.clients import ConstantFailurePolicy, DaprClient, Job
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import close_old_connections, connection, connections
from django.utils import timezone
from google.protobuf.any_pb2 import Any as AnyProto
from prometheus_client import Counter

from webapp.events.dapr_client import make_client, sidecar_problem
from webapp.events.envelope import rfc3339
from webapp.events.models import OutboxEvent
from webapp.events.notify import announce
from webapp.events.relay import mark_failed, mark_published
from webapp.events.runtime import EventRuntime

logger = logging.getLogger(__name__)

CLOUDEVENTS_CONTENT_TYPE = "application/cloudevents+json"
# Any fixed 64-bit number, the same in every replica: it names "the outbox relay" to
# pg_try_advisory_lock.
RELAY_LOCK_KEY = 0x7D0_0EB1A7
RELAY_BATCH = 200
LOCK_BUSY_RETRY_SECONDS = 0.5
JOIN_TIMEOUT_SECONDS = 30.0

PUBLISHED = Counter("todo_dapr_events_published", "Outbox events the Dapr sidecar accepted")
PUBLISH_FAILURES = Counter(
    "todo_dapr_publish_failures", "Outbox events the Dapr sidecar did not accept (retried)"
)


class DaprRuntime(EventRuntime):
    name = "dapr"

    def __init__(self, *, retry_tick_seconds: float = 5.0, autostart: bool = True) -> None:
        """`autostart=False` leaves the relay thread off until start(), for callers (tests,
        tools) that drive relay_once() themselves."""
        self._tick = retry_tick_seconds
        self._autostart = autostart
        self._client: DaprClient | None = None
        self._client_lock = threading.Lock()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the relay thread; its first pass publishes rows left from before."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping = threading.Event()
            self._thread = threading.Thread(
                target=self._relay_thread, name="dapr-event-relay", daemon=True
            )
            self._thread.start()
        logger.info("dapr event relay started")

    def stop(self) -> None:
        """Let the relay finish the row in hand, then close the client."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stopping.set()
        self._wake.set()
        if thread is not None:
            thread.join(JOIN_TIMEOUT_SECONDS)
            if thread.is_alive():
                logger.error("dapr event relay did not stop in time")
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()  # type: ignore[no-untyped-call]

    @property
    def running(self) -> bool:
        thread = self._thread
        return thread is not None and thread.is_alive()

    def health_problem(self) -> str | None:
        # uvicorn has no start-up hook of ours, so the web process starts its relay lazily:
        # at the first commit that emitted, or at the first readiness probe, whichever comes
        # first. The probe comes seconds after a pod starts, so rows left by a crashed pod
        # go out even if nobody writes.
        if self._autostart and not self._stopping.is_set():
            self.start()
        problem = sidecar_problem()
        if problem is not None:
            return problem
        if self._autostart and not self._stopping.is_set() and not self.running:
            return "dapr event relay stopped"
        return None

    def _get_client(self) -> DaprClient:
        with self._client_lock:
            if self._client is None:
                self._client = make_client()
            return self._client

    # --- events ------------------------------------------------------------------------------

    def outbox_committed(self) -> None:
        # Never publish in the committing (request) thread: a slow sidecar would slow the API.
        if self._autostart and not self._stopping.is_set():
            self.start()
        self._wake.set()

    def publish(self, row: OutboxEvent) -> None:
        """Hand one event to the sidecar; raises (DaprGrpcError, TimeoutError) if not accepted."""
        envelope: dict[str, Any] = row.envelope
        partition_key = str(envelope.get("partitionkey") or row.user_id or "")
        self._get_client().publish_event(
            pubsub_name=settings.DAPR_PUBSUB_NAME,
            topic_name=row.topic,
            data=json.dumps(envelope),
            # Structured mode: daprd forwards our envelope as is instead of wrapping it.
            data_content_type=CLOUDEVENTS_CONTENT_TYPE,
            # The Kafka message key: one user's events share a partition and keep their order.
            publish_metadata={"partitionKey": partition_key},
        )

    def relay_once(self) -> bool:
        """One relay pass under the cluster-wide relay lock.

        Returns False without publishing if another process holds the lock (it is publishing
        the same rows right now).
        """
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s)", [RELAY_LOCK_KEY])
            row = cursor.fetchone()
        if not row or not row[0]:
            return False
        try:
            self._publish_pending()
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [RELAY_LOCK_KEY])
        return True

    def _publish_pending(self) -> int:
        """Publish pending rows in sequence order; returns how many went out.

        A row waiting out its backoff holds back the later rows of the same user (their order
        is the contract) but not other users' rows. The first failure ends the pass: the
        sidecar or broker is in trouble, and trying every other row would only wait out a
        timeout per row.
        """
        now = timezone.now()
        held_back: set[int | None] = set()
        after = 0
        published = 0
        while not self._stopping.is_set():
            rows = list(
                OutboxEvent.objects.filter(published_at__isnull=True, sequence__gt=after).order_by(
                    "sequence"
                )[:RELAY_BATCH]
            )
            if not rows:
                break
            announce(rows)  # the event streams (notify.py)
            for row in rows:
                if self._stopping.is_set():
                    break
                after = row.sequence
                if row.user_id in held_back:
                    continue
                if row.next_attempt_at is not None and row.next_attempt_at > now:
                    held_back.add(row.user_id)
                    continue
                try:
                    self.publish(row)
                except Exception as exc:
                    PUBLISH_FAILURES.inc()
                    mark_failed(row, exc)
                    return published
                mark_published(row)
                PUBLISHED.inc()
                published += 1
        return published

    def _relay_thread(self) -> None:
        try:
            self._relay_loop()
        except Exception:
            logger.exception("dapr event relay crashed")
        finally:
            # This thread's own database connection; leaving it open would leak it.
            connections.close_all()

    def _relay_loop(self) -> None:
        again = True  # the first pass runs at once, for rows left from before
        while not self._stopping.is_set():
            if not again:
                self._wake.wait(self._tick)
            # Cleared before the pass, so a commit during the pass triggers another one.
            self._wake.clear()
            if self._stopping.is_set():
                return
            close_old_connections()
            try:
                again = not self.relay_once()
            except Exception:
                logger.exception("relay pass failed; retrying at the next tick")
                again = False
            if again:
                # Another replica is relaying; it may have finished its scan before our
                # rows committed, so look again shortly rather than at the next tick.
                self._stopping.wait(LOCK_BUSY_RETRY_SECONDS)

    # --- jobs --------------------------------------------------------------------------------

    def schedule_job(self, *, name: str, due_at: datetime, data: dict[str, Any]) -> None:
        """Create or replace the job in the Scheduler (scoped to this process's app-id)."""
        if timezone.is_naive(due_at):
            raise ValueError("due_at must be an aware datetime")
        payload = json.dumps(data, cls=DjangoJSONEncoder).encode()
        job = Job(
            name=name,
            due_time=rfc3339(due_at.astimezone(UTC)),
            data=AnyProto(value=payload),
            # If the app fails the job (the handler raised), the Scheduler fires it again.
            failure_policy=ConstantFailurePolicy(
                max_retries=settings.EVENT_RETRY_ATTEMPTS,
                interval_seconds=max(1, round(settings.EVENT_RETRY_DELAY_SECONDS)),
            ),
        )
        # overwrite: rescheduling (a moved due date, a redelivered event) replaces the job.
        self._get_client().schedule_job(job, overwrite=True)

    def cancel_job(self, *, name: str) -> None:
        try:
            self._get_client().delete_job(name)
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
            logger.debug("job to cancel was not there", extra={"job": name})
