"""Outbox and dead-letter gauges, read from the database when Prometheus scrapes.

Computed on scrape rather than tracked in memory so that every replica reports the same
truth, including rows written by other processes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

from django.db import close_old_connections
from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import REGISTRY, Collector

from webapp.events.models import DeadLetter, OutboxEvent

logger = logging.getLogger(__name__)


GAUGES = {
    "todo_outbox_oldest_pending_age_seconds": (
        "Age of the oldest event not yet accepted by the runtime (0 when none)"
    ),
    "todo_outbox_pending_events": "Events waiting in the outbox",
    "todo_dead_letters_open": "Dead letters not yet replayed",
}


class OutboxCollector(Collector):
    def describe(self) -> Iterator[Metric]:
        # Without describe(), registering would call collect() and query during app loading.
        for name, documentation in GAUGES.items():
            yield GaugeMetricFamily(name, documentation)

    def collect(self) -> Iterator[Metric]:
        close_old_connections()
        try:
            pending = OutboxEvent.objects.filter(published_at__isnull=True).aggregate(
                count=Count("sequence"), oldest=Min("created_at")
            )
            dead_letters = DeadLetter.objects.filter(replayed_at__isnull=True).count()
        except Exception as exc:  # a scrape must not fail because the database is away
            logger.warning("outbox metrics unavailable", extra={"error": repr(exc)})
            return
        oldest = pending["oldest"]
        age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
        values = {
            "todo_outbox_oldest_pending_age_seconds": age,
            "todo_outbox_pending_events": pending["count"],
            "todo_dead_letters_open": dead_letters,
        }
        for name, value in values.items():
            yield GaugeMetricFamily(name, GAUGES[name], value=value)


_registered = False


def register_outbox_metrics() -> None:
    global _registered
    if not _registered:
        REGISTRY.register(OutboxCollector())
        _registered = True
