"""Task lifecycle over the API: ownership, complete/reopen idempotency, edits and deletes."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from tasks_app.models import Task
from tests.conftest import create_task
from webapp.events.models import OutboxEvent


def event_types() -> list[str]:
    return list(OutboxEvent.objects.order_by("sequence").values_list("type", flat=True))


@pytest.fixture
def task(api: APIClient) -> dict[str, Any]:
    return create_task(api, title="Mine", tags=["private"])


@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("patch", "", {"title": "hijacked"}),
        ("delete", "", None),
        ("post", "complete/", None),
        ("post", "reopen/", None),
    ],
)
def test_another_users_task_is_a_404_and_stays_untouched(
    outsider_api: APIClient,
    task: dict[str, Any],
    method: str,
    suffix: str,
    body: dict[str, Any] | None,
) -> None:
    before = Task.objects.values().get(pk=task["id"])
    events_before = OutboxEvent.objects.count()

    response = getattr(outsider_api, method)(
        f"/api/v1/tasks/{task['id']}/{suffix}", body, format="json"
    )

    assert response.status_code == 404
    assert Task.objects.values().get(pk=task["id"]) == before
    assert OutboxEvent.objects.count() == events_before


def test_another_users_tasks_are_never_listed_even_when_filtered(
    outsider_api: APIClient, task: dict[str, Any]
) -> None:
    for params in ({}, {"tags": "private"}, {"search": "mine"}, {"status": "pending"}):
        body = outsider_api.get("/api/v1/tasks/", params).json()
        assert body["count"] == 0 and body["results"] == []


def test_a_malformed_task_id_is_a_404(api: APIClient) -> None:
    assert api.get("/api/v1/tasks/not-a-uuid/").status_code == 404
    assert api.post("/api/v1/tasks/123/complete/").status_code == 404


def test_anonymous_requests_are_a_401(anon: APIClient, task: dict[str, Any]) -> None:
    assert anon.get("/api/v1/tasks/").status_code == 401
    assert anon.get(f"/api/v1/tasks/{task['id']}/").status_code == 401
    assert anon.post("/api/v1/tasks/", {"title": "x"}, format="json").status_code == 401


def test_complete_twice_changes_nothing_the_second_time(
    api: APIClient, task: dict[str, Any]
) -> None:
    first = api.post(f"/api/v1/tasks/{task['id']}/complete/")
    stored = Task.objects.values().get(pk=task["id"])
    second = api.post(f"/api/v1/tasks/{task['id']}/complete/")

    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == "completed" and first.json()["completed_at"]
    assert second.json() == first.json()
    assert Task.objects.values().get(pk=task["id"]) == stored
    assert event_types() == ["todo.task.created.v1", "todo.task.completed.v1"]


def test_reopen_twice_emits_one_event(api: APIClient, task: dict[str, Any]) -> None:
    api.post(f"/api/v1/tasks/{task['id']}/complete/")
    first = api.post(f"/api/v1/tasks/{task['id']}/reopen/")
    second = api.post(f"/api/v1/tasks/{task['id']}/reopen/")

    assert first.json()["status"] == second.json()["status"] == "pending"
    assert second.json()["completed_at"] is None
    assert event_types() == [
        "todo.task.created.v1",
        "todo.task.completed.v1",
        "todo.task.reopened.v1",
    ]


def test_reopening_a_pending_task_emits_nothing(api: APIClient, task: dict[str, Any]) -> None:
    response = api.post(f"/api/v1/tasks/{task['id']}/reopen/")

    assert response.status_code == 200 and response.json()["status"] == "pending"
    assert event_types() == ["todo.task.created.v1"]


def test_patch_changes_only_the_given_fields_and_records_them(
    api: APIClient, task: dict[str, Any]
) -> None:
    response = api.patch(
        f"/api/v1/tasks/{task['id']}/",
        {"priority": "urgent", "tags": ["Work", "work", "later"]},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["priority"] == "urgent" and body["tags"] == ["work", "later"]
    assert body["title"] == "Mine"
    update = OutboxEvent.objects.get(type="todo.task.updated.v1")
    assert update.envelope["data"]["changes"] == {
        "priority": {"old": "medium", "new": "urgent"},
        "tags": {"old": ["private"], "new": ["work", "later"]},
    }


def test_patch_that_changes_nothing_emits_nothing(api: APIClient, task: dict[str, Any]) -> None:
    response = api.patch(f"/api/v1/tasks/{task['id']}/", {"title": "Mine"}, format="json")

    assert response.status_code == 200
    assert event_types() == ["todo.task.created.v1"]


def test_patch_can_clear_the_due_date(api: APIClient) -> None:
    task = create_task(api, due_at="2030-01-01T10:00:00+02:00")
    assert task["due_at"] == "2030-01-01T08:00:00Z"

    response = api.patch(f"/api/v1/tasks/{task['id']}/", {"due_at": None}, format="json")

    assert response.json()["due_at"] is None


def test_delete_removes_the_task_and_emits_deleted(api: APIClient, task: dict[str, Any]) -> None:
    response = api.delete(f"/api/v1/tasks/{task['id']}/")

    assert response.status_code == 204
    assert not Task.objects.filter(pk=task["id"]).exists()
    assert api.get(f"/api/v1/tasks/{task['id']}/").status_code == 404
    deleted = OutboxEvent.objects.get(type="todo.task.deleted.v1")
    assert deleted.envelope["data"]["task"]["id"] == task["id"]


def test_create_returns_the_full_task_shape(api: APIClient, owner: User) -> None:
    task = create_task(
        api,
        title="  Plan trip ",
        description="Book trains",
        priority="low",
        tags=["Travel"],
        due_at="2031-05-01T12:00:00Z",
    )

    assert task["title"] == "Plan trip" and task["status"] == "pending"
    assert task["priority"] == "low" and task["tags"] == ["travel"]
    assert task["series"] is None and task["is_exception"] is False
    assert task["reminders"] == [] and task["completed_at"] is None
    assert Task.objects.get(pk=task["id"]).owner == owner
