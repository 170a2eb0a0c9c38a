"""Subscribers and job handlers, registered by the apps that own them (in their handlers.py).

Each subscriber belongs to an app-id: under Dapr only that worker serves it; in the embedded
shape and in tests every subscriber runs in the one process.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

Envelope = dict[str, Any]
EventHandler = Callable[[Envelope], None]
JobHandler = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class DueJob:
    name: str
    data: dict[str, Any]


JobBatchHandler = Callable[[Sequence[DueJob]], None]


@dataclass(frozen=True)
class Subscription:
    consumer: str
    app_id: str
    topic: str
    types: frozenset[str]
    handler: EventHandler

    def accepts(self, envelope: Envelope) -> bool:
        return envelope.get("type") in self.types


@dataclass(frozen=True)
class JobRoute:
    prefix: str
    app_id: str
    handler: JobHandler
    # Set for routes that can take several due jobs in one call (and one transaction).
    batch_handler: JobBatchHandler | None = None


_subscriptions: dict[str, Subscription] = {}
_job_routes: dict[str, JobRoute] = {}


def subscriber(
    *, consumer: str, app_id: str, topic: str, types: Iterable[str]
) -> Callable[[EventHandler], EventHandler]:
    """Register `handler(envelope)` for `types` on `topic` under a unique consumer name."""

    def register(handler: EventHandler) -> EventHandler:
        _subscriptions[consumer] = Subscription(consumer, app_id, topic, frozenset(types), handler)
        return handler

    return register


def job_handler(*, prefix: str, app_id: str) -> Callable[[JobHandler], JobHandler]:
    """Register `handler(job_name, data)` for every job whose name starts with `prefix`."""

    def register(handler: JobHandler) -> JobHandler:
        _job_routes[prefix] = JobRoute(prefix, app_id, handler)
        return handler

    return register


def job_batch_handler(*, prefix: str, app_id: str) -> Callable[[JobBatchHandler], JobBatchHandler]:
    """Register `handler(jobs)` for jobs of `prefix` that are cheaper handled together.

    A runtime that finds several such jobs due at once (the local timer catching up on a
    burst) passes them in one call; a single job (each Dapr job call) is a list of one.
    """

    def register(handler: JobBatchHandler) -> JobBatchHandler:
        def one(name: str, data: dict[str, Any]) -> None:
            handler([DueJob(name, data)])

        _job_routes[prefix] = JobRoute(prefix, app_id, one, handler)
        return handler

    return register


def subscriptions(*, app_id: str | None = None) -> list[Subscription]:
    return [s for s in _subscriptions.values() if app_id is None or s.app_id == app_id]


def subscription_named(consumer: str) -> Subscription | None:
    return _subscriptions.get(consumer)


def subscriptions_for(envelope: Envelope, topic: str) -> list[Subscription]:
    return [s for s in _subscriptions.values() if s.topic == topic and s.accepts(envelope)]


def job_routes(*, app_id: str | None = None) -> list[JobRoute]:
    return [r for r in _job_routes.values() if app_id is None or r.app_id == app_id]


def job_route_for(name: str) -> JobRoute | None:
    matches = [route for prefix, route in _job_routes.items() if name.startswith(prefix)]
    return max(matches, key=lambda route: len(route.prefix), default=None)
