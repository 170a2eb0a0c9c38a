"""The local runtime of the embedded shape: in-process delivery on threads and a durable timer.

Threads:
- the relay reads committed pending outbox rows in sequence order and hands each row to the
  partition of its user, so one user's events are handled in order. It wakes after each commit
  that emitted: in this process directly, in others (the web workers of `manage.py serve`,
  management commands) through a datagram the wake-up thread receives (see wakeup.py), and on a
  safety tick;
- N partition workers run every subscriber through the consumer guard, then mark the row
  published. A row stays pending until then, so a crash redelivers it at the next start and
  the guard turns the repeat into a no-op for consumers that already had it. An event a
  handler fails on is parked in the retry schedule (retries.py) rather than retried in place:
  the worker goes straight on with the next user's events, and runs the schedule's due
  retries for its own users between batches, so one user's events stay on one thread;
- the timer sleeps until the earliest `ScheduledJob`, woken early when a job commits (here or,
  through a wake-up datagram, in another process),
  then fires what is due in batches (one transaction per batch, see `run_due_jobs`), so a
  burst of jobs due in the same minute costs a few statements per batch, not per job.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.utils import timezone

from webapp.events.models import OutboxEvent, ScheduledJob
from webapp.events.notify import announce
from webapp.events.registry import subscriptions
from webapp.events.relay import (
    mark_failed,
    mark_published_many,
    pending_rows_after,
)
from webapp.events.retries import retry_due
from webapp.events.runtime import EventRuntime
from webapp.events.runtimes.inline import (
    JOB_BATCH,
    deliver_rows,
    deliver_to_subscribers,
    job_cancel,
    job_save,
    run_due_jobs,
)
from webapp.events.wakeup import JOBS, OUTBOX, receive_wakeups, send_wakeup

logger = logging.getLogger(__name__)

RELAY_SCAN = 1000
WORKER_BATCH = 50
# Rows handed to partitions but not yet published; beyond this the relay waits for workers so a
# large backlog at start-up is not loaded into memory at once.
MAX_IN_FLIGHT = 2000
JOIN_TIMEOUT_SECONDS = 30.0


class LocalRuntime(EventRuntime):
    name = "local"

    def __init__(
        self,
        *,
        workers: int | None = None,
        relay_tick_seconds: float = 5.0,
        timer_tick_seconds: float = 60.0,
    ) -> None:
        self._workers = workers or settings.EVENT_LOCAL_WORKERS
        self._relay_tick = relay_tick_seconds
        self._timer_tick = timer_tick_seconds
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._relay_wake = threading.Event()
        self._timer_wake = threading.Event()
        self._queues: list[queue.SimpleQueue[OutboxEvent | None]] = []
        # Per partition: when its earliest parked event is due (None: none is waiting).
        self._retry_at: list[datetime | None] = []
        self._in_flight: set[int] = set()
        self._threads: list[threading.Thread] = []
        self._running = False

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the threads; rows and jobs left from before are picked up straight away."""
        with self._lock:
            if self._running:
                return
            self._running = True
            self._stopping = threading.Event()
            self._in_flight = set()
            self._queues = [queue.SimpleQueue() for _ in range(self._workers)]
            # Each partition looks at the schedule first: retries left from before a restart.
            self._retry_at = [timezone.now()] * self._workers
            self._threads = [
                self._thread("event-relay", self._relay_loop),
                self._thread("event-timer", self._timer_loop),
                self._thread("event-wakeups", self._receive_wakeups),
                *(
                    self._thread(f"event-worker-{index}", self._worker_loop, index)
                    for index in range(self._workers)
                ),
            ]
        self._relay_wake.set()
        self._timer_wake.set()
        for thread in self._threads:
            thread.start()
        logger.info("local event runtime started", extra={"workers": self._workers})

    def stop(self) -> None:
        """Let each thread finish the item in hand, then join them.

        Rows still queued stay pending in the outbox and are delivered at the next start.
        """
        with self._lock:
            if not self._running:
                return
            self._running = False
            self._stopping.set()
        self._relay_wake.set()
        self._timer_wake.set()
        for partition in self._queues:
            partition.put(None)
        for thread in self._threads:
            thread.join(JOIN_TIMEOUT_SECONDS)
            if thread.is_alive():
                logger.error("event thread did not stop in time", extra={"thread": thread.name})
        logger.info("local event runtime stopped")

    @property
    def running(self) -> bool:
        return self._running

    def health_problem(self) -> str | None:
        if not self._running:
            return None
        dead = [thread.name for thread in self._threads if not thread.is_alive()]
        return f"event threads stopped: {', '.join(dead)}" if dead else None

    def _thread(self, name: str, target: Callable[..., None], *args: Any) -> threading.Thread:
        def run() -> None:
            try:
                target(*args)
            except Exception:
                logger.exception("event thread crashed", extra={"thread": name})
            finally:
                # Each thread has its own connection; leaving it open would leak it.
                connections.close_all()

        return threading.Thread(target=run, name=name, daemon=True)

    def _receive_wakeups(self) -> None:
        # Commits of other processes (the web workers of `manage.py serve`, commands).
        receive_wakeups(
            {OUTBOX: self._relay_wake.set, JOBS: self._timer_wake.set}, stopping=self._stopping
        )

    # --- events ------------------------------------------------------------------------------

    def outbox_committed(self) -> None:
        # Not started here (a web worker of `manage.py serve`, a command): the rows wait in
        # the outbox for the process that runs the runtime, which this wakes.
        if self._running:
            self._relay_wake.set()
        else:
            send_wakeup(OUTBOX)

    def publish(self, row: OutboxEvent) -> None:
        """Deliver one row to its subscribers in the calling thread."""
        deliver_to_subscribers(row, park_failures=True)

    def _relay_loop(self) -> None:
        while not self._stopping.is_set():
            self._relay_wake.wait(self._relay_tick)
            # Let the commits of the next few milliseconds join this pass: under load one pass
            # (one query, one consumer transaction per partition) then carries several events
            # instead of one each.
            self._stopping.wait(settings.EVENT_RELAY_GATHER_SECONDS)
            # Cleared before reading, so a commit during the pass triggers another pass.
            self._relay_wake.clear()
            if self._stopping.is_set():
                return
            close_old_connections()
            try:
                self._dispatch_pending()
            except Exception:
                logger.exception("relay pass failed; retrying at the next tick")

    def _dispatch_pending(self) -> None:
        """Hand every pending row not already in a partition to its partition, oldest first.

        Each pass starts from the lowest pending sequence: a transaction that took its number
        early but committed late is still delivered, on the very next pass.
        """
        after = 0
        while not self._stopping.is_set():
            if len(self._in_flight) >= MAX_IN_FLIGHT:
                return  # a worker wakes the relay as the backlog drains
            with self._lock:
                in_flight = list(self._in_flight)
            # One query a pass: the pending rows not already handed to a partition.
            rows = pending_rows_after(after, excluding=in_flight, limit=RELAY_SCAN)
            for row in rows:
                with self._lock:
                    self._in_flight.add(row.sequence)
                self._queues[self._partition_of(row)].put(row)
            # The event streams (notify.py), once the partitions have the rows in hand.
            announce(rows)
            if len(rows) < RELAY_SCAN:
                return
            after = rows[-1].sequence

    def _partition_of(self, row: OutboxEvent) -> int:
        return (row.user_id or 0) % self._workers

    def _partition_of_key(self, key: str) -> int:
        # The envelope's partition key is its row's user id (see outbox.py).
        return int(key) % self._workers if key.isdigit() else 0

    def _worker_loop(self, index: int) -> None:
        partition = self._queues[index]
        while True:
            self._run_due_retries(index)
            try:
                batch = [partition.get(timeout=self._seconds_to_retry(index))]
            except queue.Empty:
                continue
            # Take what is already queued too, to mark it published in one statement.
            while len(batch) < WORKER_BATCH and not partition.empty():
                batch.append(partition.get())
            rows = [row for row in batch if row is not None]
            if len(rows) < len(batch):
                rows = []  # stop() was called: what is left stays pending for the next start
            close_old_connections()
            try:
                self._deliver_batch(rows, index)
            finally:
                with self._lock:
                    was_full = len(self._in_flight) >= MAX_IN_FLIGHT
                    self._in_flight.difference_update(row.sequence for row in rows)
                if was_full:
                    self._relay_wake.set()
            if self._stopping.is_set():
                return

    @property
    def _consumers(self) -> list[str]:
        # Every subscriber runs in this process (read now: tests register their own).
        return [subscription.consumer for subscription in subscriptions()]

    def _seconds_to_retry(self, index: int) -> float | None:
        due = self._retry_at[index]
        if due is None:
            return None
        return max(0.0, (due - timezone.now()).total_seconds())

    def _run_due_retries(self, index: int) -> None:
        due = self._retry_at[index]
        if due is None or due > timezone.now() or self._stopping.is_set():
            return
        close_old_connections()
        try:
            done = retry_due(
                consumers=self._consumers,
                accept=lambda key: self._partition_of_key(key) == index,
            )
        except Exception:
            logger.exception("retry pass failed; trying again shortly")
            self._retry_at[index] = timezone.now() + timedelta(seconds=1)
            return
        self._retry_at[index] = done.next_at
        if done.outcomes:
            self._relay_wake.set()  # events the handlers emitted

    def _deliver_batch(self, rows: list[OutboxEvent], index: int) -> None:
        if not rows:
            return
        try:
            # A partition with no retry due has nothing parked: no need to ask the schedule.
            parked_failure = deliver_rows(
                rows, park_failures=True, schedule_empty=self._retry_at[index] is None
            )
        except Exception as exc:
            # Not a handler failure (those are parked) but e.g. the database going away:
            # back off and let the relay hand the rows over again.
            logger.exception("delivery failed", extra={"sequence": rows[0].sequence})
            try:
                for row in rows:
                    mark_failed(row, exc)
            except Exception:
                logger.exception("could not record the failure")
            return
        if parked_failure:
            retry_at = timezone.now() + timedelta(seconds=settings.EVENT_RETRY_DELAY_SECONDS)
            current = self._retry_at[index]
            self._retry_at[index] = retry_at if current is None else min(current, retry_at)
        try:
            mark_published_many(rows)
        except Exception:
            # The rows stay pending and are delivered again; the guard makes that a no-op.
            logger.exception("could not mark rows published")

    # --- jobs --------------------------------------------------------------------------------

    def schedule_job(self, *, name: str, due_at: datetime, data: dict[str, Any]) -> None:
        job_save(name=name, due_at=due_at, data=data)
        # The row is invisible to the timer until the caller's transaction commits.
        transaction.on_commit(self._job_committed)

    def _job_committed(self) -> None:
        if self._running:
            self._timer_wake.set()
        else:
            send_wakeup(JOBS)

    def cancel_job(self, *, name: str) -> None:
        job_cancel(name=name)

    def _timer_loop(self) -> None:
        retry_delay = timedelta(seconds=settings.EVENT_RETRY_DELAY_SECONDS)
        while not self._stopping.is_set():
            self._timer_wake.wait(self._seconds_to_next_job())
            self._timer_wake.clear()
            while not self._stopping.is_set():
                close_old_connections()
                try:
                    fired = run_due_jobs(
                        now=timezone.now(), retry_delay=retry_delay, limit=JOB_BATCH
                    )
                except Exception:
                    logger.exception("job run failed; retrying shortly")
                    self._stopping.wait(1.0)  # e.g. the database is away: do not spin
                    break
                if not fired:
                    break

    def _seconds_to_next_job(self) -> float:
        """Sleep until the earliest job, at most a tick (jobs other processes scheduled)."""
        if self._stopping.is_set():
            return 0.0
        try:
            close_old_connections()
            next_due = (
                ScheduledJob.objects.order_by("due_at").values_list("due_at", flat=True).first()
            )
        except Exception:
            logger.exception("could not read the next job")
            return self._timer_tick
        if next_due is None:
            return self._timer_tick
        delay = (next_due - timezone.now()).total_seconds()
        return max(0.0, min(delay, self._timer_tick))
