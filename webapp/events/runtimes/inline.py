"""The inline runtime for tests: delivery right after commit, jobs fired when a test says so.

The job table helpers here are shared with the local runtime, which fires the same rows from a
timer thread.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webapp.events.guard import deliver_together, deliver_with_retries
from webapp.events.models import OutboxEvent, ScheduledJob
from webapp.events.registry import (
    DueJob,
    JobHandler,
    JobRoute,
    Subscription,
    job_route_for,
    subscriptions_for,
)
from webapp.events.relay import publish_pending
from webapp.events.retries import deliver_or_park, park, parked_groups, partition_key
from webapp.events.runtime import EventRuntime

logger = logging.getLogger(__name__)

# Jobs claimed per transaction. Large enough that a burst (a minute with thousands of reminders)
# costs a few statements per hundred jobs, small enough that one pass holds its locks briefly.
JOB_BATCH = 200

__all__ = [
    "InlineRuntime",
    "deliver_rows",
    "deliver_to_subscribers",
    "deliver_with_retries",
    "job_cancel",
    "job_save",
    "run_due_jobs",
]


def deliver_to_subscribers(row: OutboxEvent, *, park_failures: bool = False) -> None:
    """Offer one event to every subscriber of its topic and type (see `deliver_rows`)."""
    deliver_rows([row], park_failures=park_failures)


def deliver_rows(
    rows: Sequence[OutboxEvent], *, park_failures: bool, schedule_empty: bool = False
) -> bool:
    """Offer `rows` (in sequence order) to their subscribers, each of which takes every one.

    Each subscriber gets its share of the batch in one transaction (`deliver_together`), in
    sequence order, so it still sees each user's events in order. If that transaction fails,
    the subscriber's events go one by one. There, with `park_failures` (the runtimes that
    serve), a failed event goes to the retry schedule and the user's later events for that
    subscriber wait behind it (retries.py), so no other user waits; without it (the inline
    runtime of the tests) the event is retried in place, then dead-lettered.

    `schedule_empty` says the caller knows no event of these rows' users is parked (the
    local runtime's partitions do), which spares the query that asks.

    On return every subscriber has processed, skipped (duplicate), parked or dead-lettered
    each row; the result says whether a failure was parked (a retry is now scheduled). An
    exception (the database away) means nothing can be assumed, and the caller
    delivers the rows again later, which the guard makes safe.
    """
    shares: dict[str, tuple[Subscription, list[OutboxEvent]]] = {}
    for row in rows:
        for subscription in subscriptions_for(row.envelope, row.topic):
            shares.setdefault(subscription.consumer, (subscription, []))[1].append(row)
    if not shares:
        return False
    parked = (
        parked_groups(partition_key(row.envelope) for row in rows)
        if park_failures and not schedule_empty
        else set()
    )
    known_before = len(parked)
    for subscription, share in shares.values():
        free: list[OutboxEvent] = []
        for row in share:
            if (subscription.consumer, partition_key(row.envelope)) in parked:
                park(subscription, row.envelope, error=None)
            else:
                free.append(row)
        if len(free) > 1 and deliver_together(subscription, [row.envelope for row in free]):
            continue
        for row in free:
            if park_failures:
                deliver_or_park(subscription, row.envelope, parked=parked)
            else:
                deliver_with_retries(subscription, row.envelope)
    return len(parked) > known_before


def job_save(*, name: str, due_at: datetime, data: dict[str, Any]) -> None:
    """Create or replace the job `name` with one upsert (INSERT ... ON CONFLICT DO UPDATE)."""
    ScheduledJob.objects.bulk_create(
        [ScheduledJob(name=name, due_at=due_at, data=data, attempts=0)],
        update_conflicts=True,
        unique_fields=["name"],
        update_fields=["due_at", "data", "attempts"],
    )


def job_cancel(*, name: str) -> None:
    ScheduledJob.objects.filter(name=name).delete()


def run_due_jobs(*, now: datetime, retry_delay: timedelta | None, limit: int) -> list[str]:
    """Claim up to `limit` jobs due at `now`, earliest first, run them; return their names.

    The claim (row locks taken with SKIP LOCKED, then the delete) commits together with the
    handlers' effects, so a crash mid-handler leaves the jobs in place to fire again. Jobs of
    a route with a batch handler go to it in one call; should that call fail, they run one by
    one so a single bad job cannot hold back the rest. A failed handler is rolled back to its
    savepoint and the job put back `retry_delay` later (None: at its old due time, so the next
    fire retries it), up to EVENT_RETRY_ATTEMPTS times.
    """
    with transaction.atomic():
        claimed = list(
            ScheduledJob.objects.select_for_update(skip_locked=True)
            .filter(due_at__lte=now)
            .order_by("due_at", "name")[:limit]
        )
        if not claimed:
            return []
        ScheduledJob.objects.filter(pk__in=[job.pk for job in claimed]).delete()
        by_route: dict[str, tuple[JobRoute, list[ScheduledJob]]] = {}
        for job in claimed:
            route = job_route_for(job.name)
            if route is None:
                logger.error("no handler for job; dropped", extra={"job": job.name})
                continue
            by_route.setdefault(route.prefix, (route, []))[1].append(job)
        for prefix, (route, due) in by_route.items():
            if route.batch_handler is not None and len(due) > 1:
                try:
                    with transaction.atomic():
                        route.batch_handler([DueJob(job.name, job.data) for job in due])
                    continue
                except Exception:
                    logger.warning(
                        "batch job handler failed; running the jobs one by one",
                        exc_info=True,
                        extra={"prefix": prefix, "jobs": len(due)},
                    )
            for job in due:
                _run_one(job, route.handler, retry_delay=retry_delay)
    return [job.name for job in claimed]


def _run_one(job: ScheduledJob, handler: JobHandler, *, retry_delay: timedelta | None) -> None:
    try:
        with transaction.atomic():
            handler(job.name, job.data)
    except Exception:
        attempts = job.attempts + 1
        if attempts >= 1 + settings.EVENT_RETRY_ATTEMPTS:
            logger.exception(
                "job handler failed; dropped", extra={"job": job.name, "attempts": attempts}
            )
            return
        logger.warning(
            "job handler failed; will retry",
            exc_info=True,
            extra={"job": job.name, "attempts": attempts},
        )
        # The handler may have rescheduled the same name before failing; that was rolled
        # back with the savepoint, so the name is free again.
        ScheduledJob.objects.create(
            name=job.name,
            due_at=job.due_at if retry_delay is None else timezone.now() + retry_delay,
            data=job.data,
            attempts=attempts,
        )


class InlineRuntime(EventRuntime):
    name = "inline"

    def __init__(self) -> None:
        self._relaying = False

    def outbox_committed(self) -> None:
        # A handler's own events commit while we relay; the running loop picks them up.
        if self._relaying:
            return
        self._relaying = True
        try:
            publish_pending(self)
        finally:
            self._relaying = False

    def publish(self, row: OutboxEvent) -> None:
        deliver_to_subscribers(row)

    def schedule_job(self, *, name: str, due_at: datetime, data: dict[str, Any]) -> None:
        job_save(name=name, due_at=due_at, data=data)

    def cancel_job(self, *, name: str) -> None:
        job_cancel(name=name)

    def fire_due_jobs(self, *, now: datetime | None = None) -> list[str]:
        """Fire every job due at `now` (default: the clock, which tests move); return names."""
        moment = now or timezone.now()
        fired: list[str] = []
        while names := run_due_jobs(now=moment, retry_delay=None, limit=JOB_BATCH):
            fired.extend(names)
        return fired
