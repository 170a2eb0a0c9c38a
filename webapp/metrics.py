"""/metrics: one page for the whole server, whichever of its processes answers the scrape."""

from __future__ import annotations

import os

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from webapp.events.metrics import OutboxCollector


def scrape_registry() -> CollectorRegistry:
    """The process's own registry, or, under a multi-process server, every process's files.

    The outbox gauges are read from the database at scrape time, so they join the sum as they
    are rather than once per process.
    """
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(OutboxCollector())
    return registry


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)
