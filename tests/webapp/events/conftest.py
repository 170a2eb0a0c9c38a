"""Fixtures for the event backbone: throw-away subscribers and job handlers, test events."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from webapp.events import registry
from webapp.events.models import OutboxEvent
from webapp.events.outbox import emit

# A topic and type of their own, so the apps' real subscribers never see these test events.
TEST_TOPIC = "test-events"
TEST_TYPE = "test.thing.happened.v1"

Register = Callable[..., registry.EventHandler]


@pytest.fixture
def register_subscriber(monkeypatch: pytest.MonkeyPatch) -> Register:
    """Register `handler` for the test topic for the length of one test."""

    def register(
        handler: registry.EventHandler,
        *,
        consumer: str = "tests.recorder",
        topic: str = TEST_TOPIC,
        types: Iterable[str] = (TEST_TYPE,),
    ) -> registry.EventHandler:
        monkeypatch.setitem(
            registry._subscriptions,
            consumer,
            registry.Subscription(consumer, "tests", topic, frozenset(types), handler),
        )
        return handler

    return register


@pytest.fixture
def register_job_handler(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    def register(
        prefix: str,
        handler: registry.JobHandler,
        batch_handler: registry.JobBatchHandler | None = None,
    ) -> None:
        monkeypatch.setitem(
            registry._job_routes,
            prefix,
            registry.JobRoute(prefix, "tests", handler, batch_handler),
        )

    return register


def emit_test_event(user: User, **data: Any) -> OutboxEvent:
    with transaction.atomic():
        return emit(
            topic=TEST_TOPIC,
            type=TEST_TYPE,
            subject=f"things/{user.pk}",
            data=data,
            user_id=user.pk,
        )
