"""Helpers for recurrence tests: recurring tasks made through the API, and series lookups."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from recurrence_app.models import RecurringSeries
from tasks_app.models import Task
from webapp.events.models import OutboxEvent, ScheduledJob


@pytest.fixture
def api(owner: User) -> APIClient:
    """Authenticated without a JWT: these tests move the clock by days, past any token's life
    (authentication itself is tested with the accounts)."""
    client = APIClient()
    client.force_authenticate(owner)
    return client


@pytest.fixture
def outsider_api(outsider: User) -> APIClient:
    client = APIClient()
    client.force_authenticate(outsider)
    return client


def create_recurring(
    api: APIClient, *, title: str, due_at: str, **recurrence: Any
) -> dict[str, Any]:
    """POST a recurring task; returns the first instance as the API shows it."""
    response = api.post(
        "/api/v1/tasks/",
        {"title": title, "due_at": due_at, "recurrence": {"timezone": "UTC", **recurrence}},
        format="json",
    )
    assert response.status_code == 201, response.content
    body: dict[str, Any] = response.json()
    return body


def instances(series_id: Any) -> list[Task]:
    return list(Task.objects.filter(series_id=series_id).order_by("occurrence"))


def series_of(task: dict[str, Any]) -> RecurringSeries:
    return RecurringSeries.objects.get(pk=task["series"])


def job_of(series_id: Any) -> ScheduledJob | None:
    return ScheduledJob.objects.filter(name=f"series-{series_id}").first()


def events_of(event_type: str, subject: str) -> list[OutboxEvent]:
    return list(OutboxEvent.objects.filter(type=event_type, subject=subject).order_by("sequence"))
