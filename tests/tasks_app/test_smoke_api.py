from __future__ import annotations

from rest_framework.test import APIClient

from tests.conftest import create_task
from webapp.events.models import OutboxEvent


def test_created_task_is_listed_and_emits_one_event(api: APIClient) -> None:
    task = create_task(api, title="Pay rent", priority="high", tags=["Home"])

    listed = api.get("/api/v1/tasks/").json()

    assert [t["id"] for t in listed["results"]] == [task["id"]]
    assert task["priority"] == "high" and task["tags"] == ["home"]
    event = OutboxEvent.objects.get()
    assert event.type == "todo.task.created.v1" and event.published_at is not None
