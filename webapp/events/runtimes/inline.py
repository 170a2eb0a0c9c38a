"""The inline runtime for tests: delivery right after commit, jobs fired when a test says so."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from webapp.events.guard import deliver_once, record_dead_letter
from webapp.events.models import OutboxEvent, ScheduledJob
from webapp.events.registry import Subscription, job_route_for, subscriptions_for
from webapp.events.relay import publish_pending
from webapp.events.runtime import EventRuntime

logger = logging.getLogger(__name__)


def deliver_with_retries(subscription: Subscription, envelope: dict[str, Any]) -> None:
    """Try the handler 1 + EVENT_RETRY_ATTEMPTS times, then keep the event as a dead letter."""
    attempts = 1 + settings.EVENT_RETRY_ATTEMPTS
    for attempt in range(1, attempts + 1):
        try:
            deliver_once(subscription, envelope)
            return
        except Exception as exc:
            if attempt == attempts:
                record_dead_letter(subscription, envelope, error=exc, attempts=attempt)
                return
            logger.warning(
                "handler failed; retrying",
                extra={"consumer": subscription.consumer, "attempt": attempt, "error": repr(exc)},
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
        for subscription in subscriptions_for(row.envelope, row.topic):
            deliver_with_retries(subscription, row.envelope)

    def schedule_job(self, *, name: str, due_at: datetime, data: dict[str, Any]) -> None:
        ScheduledJob.objects.update_or_create(
            name=name, defaults={"due_at": due_at, "data": data, "attempts": 0}
        )

    def cancel_job(self, *, name: str) -> None:
        ScheduledJob.objects.filter(name=name).delete()

    def fire_due_jobs(self, *, now: datetime | None = None) -> list[str]:
        """Fire every job due at `now` (default: the clock, which tests move); return names."""
        moment = now or timezone.now()
        fired: list[str] = []
        while True:
            job = ScheduledJob.objects.filter(due_at__lte=moment).order_by("due_at", "name").first()
            if job is None:
                return fired
            run_job(job)
            fired.append(job.name)


def run_job(job: ScheduledJob) -> None:
    """Remove a due job and run its handler; a failure is retried on the next fire."""
    route = job_route_for(job.name)
    with transaction.atomic():
        deleted, _ = ScheduledJob.objects.filter(pk=job.pk, due_at=job.due_at).delete()
        if not deleted:
            return  # cancelled or rescheduled meanwhile
        if route is None:
            logger.error("no handler for job", extra={"job": job.name})
            return
    try:
        route.handler(job.name, job.data)
    except Exception:
        logger.exception("job handler failed", extra={"job": job.name})
        if job.attempts + 1 < 1 + settings.EVENT_RETRY_ATTEMPTS:
            ScheduledJob.objects.get_or_create(
                name=job.name,
                defaults={"due_at": job.due_at, "data": job.data, "attempts": job.attempts + 1},
            )
