"""The inline runtime for tests: delivery right after commit, jobs fired when a test says so.

The job table helpers here are shared with the local runtime, which fires the same rows from a
timer thread.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webapp.events.guard import Outcome, Waiter, deliver_with_retries
from webapp.events.models import OutboxEvent, ScheduledJob
from webapp.events.registry import job_route_for, subscriptions_for
from webapp.events.relay import publish_pending
from webapp.events.runtime import EventRuntime

logger = logging.getLogger(__name__)

__all__ = [
    "InlineRuntime",
    "deliver_to_subscribers",
    "deliver_with_retries",
    "job_cancel",
    "job_save",
    "run_next_due_job",
]


def deliver_to_subscribers(row: OutboxEvent, *, wait: Waiter | None = None) -> bool:
    """Offer one event to every subscriber of its topic and type.

    Returns True once every subscriber has taken it (processed, duplicate or dead-lettered);
    False if `wait` reported a stop in the middle of retries.
    """
    for subscription in subscriptions_for(row.envelope, row.topic):
        if wait is None:
            outcome = deliver_with_retries(subscription, row.envelope)
        else:
            outcome = deliver_with_retries(subscription, row.envelope, wait=wait)
        if outcome is Outcome.INTERRUPTED:
            return False
    return True


def job_save(*, name: str, due_at: datetime, data: dict[str, Any]) -> None:
    ScheduledJob.objects.update_or_create(
        name=name, defaults={"due_at": due_at, "data": data, "attempts": 0}
    )


def job_cancel(*, name: str) -> None:
    ScheduledJob.objects.filter(name=name).delete()


def run_next_due_job(*, now: datetime, retry_delay: timedelta | None) -> str | None:
    """Claim the earliest job due at `now`, run its handler, and return its name (None if idle).

    The claim (a row lock taken with SKIP LOCKED, then the delete) commits together with the
    handler's effects, so a crash mid-handler leaves the job in place to fire again. A failed
    handler is rolled back to a savepoint and the job is put back `retry_delay` later (None:
    at its old due time, so the next fire retries it), up to EVENT_RETRY_ATTEMPTS times.
    """
    with transaction.atomic():
        job = (
            ScheduledJob.objects.select_for_update(skip_locked=True)
            .filter(due_at__lte=now)
            .order_by("due_at", "name")
            .first()
        )
        if job is None:
            return None
        job.delete()
        route = job_route_for(job.name)
        if route is None:
            logger.error("no handler for job; dropped", extra={"job": job.name})
            return job.name
        try:
            with transaction.atomic():
                route.handler(job.name, job.data)
        except Exception:
            attempts = job.attempts + 1
            if attempts >= 1 + settings.EVENT_RETRY_ATTEMPTS:
                logger.exception(
                    "job handler failed; dropped", extra={"job": job.name, "attempts": attempts}
                )
                return job.name
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
    return job.name


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
        while (name := run_next_due_job(now=moment, retry_delay=None)) is not None:
            fired.append(name)
        return fired
