"""Each task action through the REST API emits exactly the event the contract describes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Max
from rest_framework.test import APIClient

from tests.conftest import create_task
from webapp.events.models import OutboxEvent

TASK_TYPES_PREFIX = "todo.task."


def last_sequence() -> int:
    value: int | None = OutboxEvent.objects.aggregate(last=Max("sequence"))["last"]
    return value or 0


def task_events_since(sequence: int) -> list[OutboxEvent]:
    return list(
        OutboxEvent.objects.filter(
            sequence__gt=sequence, type__startswith=TASK_TYPES_PREFIX
        ).order_by("sequence")
    )


def the_one_event(since: int) -> OutboxEvent:
    events = task_events_since(since)
    assert len(events) == 1, [e.type for e in events]
    return events[0]


def assert_contract_envelope(
    event: OutboxEvent, *, type: str, topic: str, task_id: str, owner: User
) -> dict[str, Any]:
    envelope = event.envelope
    assert event.type == type and event.topic == topic
    assert envelope["specversion"] == "1.0"
    assert envelope["type"] == type
    assert envelope["id"] == str(event.event_id) and uuid.UUID(envelope["id"])
    assert envelope["source"] == settings.EVENT_SOURCE
    assert envelope["subject"] == f"tasks/{task_id}" == event.subject
    assert envelope["time"].endswith("Z")
    assert datetime.fromisoformat(envelope["time"]).utcoffset() is not None
    assert envelope["datacontenttype"] == "application/json"
    assert envelope["partitionkey"] == str(owner.pk)
    assert envelope["sequence"] == str(event.sequence)
    assert event.user_id == owner.pk
    # The inline runtime publishes at commit, so the row is already published.
    assert event.published_at is not None
    data: dict[str, Any] = envelope["data"]
    assert data["task"]["id"] == task_id
    assert data["task"]["user_id"] == owner.pk
    return data


def test_creating_a_task_emits_one_created_event(api: APIClient, owner: User) -> None:
    before = last_sequence()

    task = create_task(
        api, title="Pay rent", priority="high", tags=["home"], due_at="2030-01-02T09:00:00Z"
    )

    data = assert_contract_envelope(
        the_one_event(before),
        type="todo.task.created.v1",
        topic="task-operations",
        task_id=task["id"],
        owner=owner,
    )
    shown = data["task"]
    assert shown["title"] == "Pay rent" and shown["priority"] == "high"
    assert shown["tags"] == ["home"] and shown["status"] == "pending"
    assert datetime.fromisoformat(shown["due_at"]) == datetime.fromisoformat(task["due_at"])
    assert shown["series"] is None and shown["completed_at"] is None
    assert "changes" not in data


def test_updating_a_task_emits_one_updated_event_with_old_and_new_values(
    api: APIClient, owner: User
) -> None:
    task = create_task(api, title="Draft", priority="low")
    before = last_sequence()

    response = api.patch(
        f"/api/v1/tasks/{task['id']}/", {"title": "Final", "priority": "urgent"}, format="json"
    )

    assert response.status_code == 200, response.content
    data = assert_contract_envelope(
        the_one_event(before),
        type="todo.task.updated.v1",
        topic="task-modifications",
        task_id=task["id"],
        owner=owner,
    )
    assert data["changes"] == {
        "title": {"old": "Draft", "new": "Final"},
        "priority": {"old": "low", "new": "urgent"},
    }
    assert data["task"]["title"] == "Final" and data["task"]["priority"] == "urgent"


def test_patch_that_changes_nothing_emits_nothing(api: APIClient) -> None:
    task = create_task(api, title="Same", priority="high")
    before = last_sequence()

    response = api.patch(
        f"/api/v1/tasks/{task['id']}/", {"title": "Same", "priority": "high"}, format="json"
    )

    assert response.status_code == 200
    assert task_events_since(before) == []


def test_completing_and_reopening_emit_one_event_each_and_repeats_emit_nothing(
    api: APIClient, owner: User
) -> None:
    task = create_task(api)
    url = f"/api/v1/tasks/{task['id']}"

    before = last_sequence()
    assert api.post(f"{url}/complete/").status_code == 200
    completed = assert_contract_envelope(
        the_one_event(before),
        type="todo.task.completed.v1",
        topic="task-operations",
        task_id=task["id"],
        owner=owner,
    )
    assert completed["task"]["status"] == "completed"
    assert completed["task"]["completed_at"] is not None

    before = last_sequence()
    assert api.post(f"{url}/complete/").status_code == 200
    assert task_events_since(before) == []

    before = last_sequence()
    assert api.post(f"{url}/reopen/").status_code == 200
    reopened = assert_contract_envelope(
        the_one_event(before),
        type="todo.task.reopened.v1",
        topic="task-operations",
        task_id=task["id"],
        owner=owner,
    )
    assert reopened["task"]["status"] == "pending"
    assert reopened["task"]["completed_at"] is None

    before = last_sequence()
    assert api.post(f"{url}/reopen/").status_code == 200
    assert task_events_since(before) == []


def test_deleting_a_task_emits_one_deleted_event_carrying_the_task(
    api: APIClient, owner: User
) -> None:
    task = create_task(api, title="Gone soon")
    before = last_sequence()

    assert api.delete(f"/api/v1/tasks/{task['id']}/").status_code == 204

    data = assert_contract_envelope(
        the_one_event(before),
        type="todo.task.deleted.v1",
        topic="task-operations",
        task_id=task["id"],
        owner=owner,
    )
    assert data["task"]["title"] == "Gone soon"


def test_rejected_request_emits_nothing(api: APIClient) -> None:
    task = create_task(api)
    before = last_sequence()

    response = api.patch(f"/api/v1/tasks/{task['id']}/", {"title": ""}, format="json")

    assert response.status_code == 400
    assert task_events_since(before) == []


def test_events_of_one_user_have_increasing_sequences(api: APIClient) -> None:
    before = last_sequence()
    first = create_task(api, title="one")
    api.post(f"/api/v1/tasks/{first['id']}/complete/")
    api.patch(f"/api/v1/tasks/{first['id']}/", {"title": "uno"}, format="json")

    events = task_events_since(before)

    assert [e.type for e in events] == [
        "todo.task.created.v1",
        "todo.task.completed.v1",
        "todo.task.updated.v1",
    ]
    sequences = [int(e.envelope["sequence"]) for e in events]
    assert sequences == sorted(sequences) and len(set(sequences)) == 3
