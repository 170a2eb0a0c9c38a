from __future__ import annotations

from datetime import timedelta

import time_machine
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from tasks_app.services import task_create
from webapp.events.models import DeadLetter, OutboxEvent


def metric_value(body: str, name: str) -> float:
    for line in body.splitlines():
        if line.startswith(f"{name} "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not exported")


def test_metrics_report_the_age_of_the_oldest_pending_event(owner: User) -> None:
    task_create(owner=owner, title="Published at once by the inline runtime")
    start = timezone.now()
    OutboxEvent.objects.update(published_at=None)
    DeadLetter.objects.create(
        consumer="c",
        topic="task-operations",
        event_id=OutboxEvent.objects.get().event_id,
        envelope={},
        error="boom",
        attempts=4,
    )

    with time_machine.travel(start + timedelta(minutes=2)):
        body = Client().get("/metrics").content.decode()

    assert metric_value(body, "todo_outbox_pending_events") == 1
    assert 119 <= metric_value(body, "todo_outbox_oldest_pending_age_seconds") <= 125
    assert metric_value(body, "todo_dead_letters_open") == 1


def test_nothing_pending_reports_zero_age(owner: User) -> None:
    task_create(owner=owner, title="Delivered")

    body = Client().get("/metrics").content.decode()

    assert metric_value(body, "todo_outbox_pending_events") == 0
    assert metric_value(body, "todo_outbox_oldest_pending_age_seconds") == 0
