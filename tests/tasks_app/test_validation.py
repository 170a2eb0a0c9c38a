"""Every bad input is a 400 naming the field, and nothing is written."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from rest_framework.test import APIClient

from tasks_app.models import Task
from tests.conftest import create_task
from webapp.events.models import OutboxEvent


@pytest.fixture
def nothing_written() -> Iterator[None]:
    tasks = list(Task.objects.order_by("pk").values())
    events = OutboxEvent.objects.count()
    yield
    assert list(Task.objects.order_by("pk").values()) == tasks
    assert OutboxEvent.objects.count() == events


BAD_BODIES: list[tuple[dict[str, Any], str, str]] = [
    ({"title": "t", "colour": "red"}, "colour", "Unknown field."),
    ({"title": "t", "status": "completed"}, "status", "This field is read-only."),
    ({"title": "t", "id": "6b0d6f4c-0000-4000-8000-000000000000"}, "id", "read-only"),
    ({"title": "t", "completed_at": "2030-01-01T00:00:00Z"}, "completed_at", "read-only"),
    ({"title": "t", "created_at": "2030-01-01T00:00:00Z"}, "created_at", "read-only"),
    ({"title": ""}, "title", "may not be blank"),
    ({"title": "   "}, "title", "may not be blank"),
    ({"title": None}, "title", "may not be null"),
    ({"title": "x" * 201}, "title", "no more than 200 characters"),
    ({"title": "t", "description": "d" * 5001}, "description", "no more than 5000"),
    ({"title": "t", "priority": "critical"}, "priority", "is not a valid choice"),
    ({"title": "t", "priority": 3}, "priority", "is not a valid choice"),
    ({"title": "t", "tags": ["no spaces"]}, "tags", "Invalid tag"),
    ({"title": "t", "tags": ["ok", "émoji"]}, "tags", "Invalid tag"),
    ({"title": "t", "tags": "home"}, "tags", "Expected a list"),
    ({"title": "t", "tags": [f"t{i}" for i in range(21)]}, "tags", "no more than 20"),
    ({"title": "t", "tags": ["x" * 33]}, "tags", "no more than 32"),
    ({"title": "t", "due_at": "tomorrow"}, "due_at", "Datetime has wrong format"),
    ({"title": "t", "due_at": "2030-02-30T10:00:00Z"}, "due_at", "Datetime has wrong format"),
]


def message_of(body: dict[str, Any], field: str) -> str:
    value = body[field]
    return str(value if isinstance(value, str) else value[0] if field in body else value)


@pytest.mark.parametrize(("payload", "field", "message"), BAD_BODIES, ids=lambda v: str(v)[:40])
@pytest.mark.usefixtures("nothing_written")
def test_create_rejects_bad_input_with_a_field_message(
    api: APIClient, payload: dict[str, Any], field: str, message: str
) -> None:
    response = api.post("/api/v1/tasks/", payload, format="json")

    assert response.status_code == 400
    body = response.json()
    assert field in body, body
    assert message in str(body[field])


@pytest.mark.parametrize(
    ("payload", "field", "message"),
    [(body, field, message) for body, field, message in BAD_BODIES if field != "title"]
    + [
        ({"title": ""}, "title", "may not be blank"),
        ({"series": None}, "series", "read-only"),
        ({"occurrence": "2030-01-01T00:00:00Z"}, "occurrence", "read-only"),
        ({"recurrence": {"rule": "FREQ=DAILY"}}, "recurrence", "read-only"),
    ],
    ids=lambda v: str(v)[:40],
)
def test_patch_rejects_bad_input_and_leaves_the_task_as_it_was(
    api: APIClient, payload: dict[str, Any], field: str, message: str
) -> None:
    task = create_task(api, title="Keep me", tags=["a"])
    stored = Task.objects.values().get(pk=task["id"])
    events = OutboxEvent.objects.count()

    response = api.patch(f"/api/v1/tasks/{task['id']}/", payload, format="json")

    assert response.status_code == 400
    assert message in str(response.json()[field])
    assert Task.objects.values().get(pk=task["id"]) == stored
    assert OutboxEvent.objects.count() == events


def test_a_body_that_is_not_an_object_is_a_400(api: APIClient) -> None:
    response = api.post("/api/v1/tasks/", ["title"], format="json")

    assert response.status_code == 400
    assert response.json()["non_field_errors"]


def test_malformed_json_is_a_400(api: APIClient) -> None:
    response = api.generic("POST", "/api/v1/tasks/", "{title:", content_type="application/json")

    assert response.status_code == 400
    assert "JSON parse error" in response.json()["detail"]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"colour": "red"}, "colour", "Unknown query parameter."),
        ({"status": "done"}, "status", "not one of the available choices"),
        ({"priority": "high,critical"}, "priority", "Unknown priority 'critical'"),
        ({"tags": "bad tag"}, "tags", "Invalid tag"),
        ({"tags_all": "ok,x!"}, "tags_all", "Invalid tag"),
        ({"due_before": "yesterday"}, "due_before", "Enter a valid date/time."),
        ({"due_after": "2030-13-01T00:00:00Z"}, "due_after", "Enter a valid date/time."),
        ({"due_after": "0001-01-01T00:00:00+05:00"}, "due_after", "between the years 1 and"),
        ({"overdue": "yes"}, "overdue", "not one of the available choices"),
        ({"has_due": "1"}, "has_due", "not one of the available choices"),
        ({"recurring": "maybe"}, "recurring", "not one of the available choices"),
        ({"series": "nope"}, "series", "Enter a valid UUID."),
        ({"ordering": "colour"}, "ordering", "Unknown ordering key 'colour'"),
        ({"ordering": ","}, "ordering", "without empty items"),
        ({"tags": "home,,bills"}, "tags", "without empty items"),
        ({"series": ""}, "series", "may not be empty"),
        ({"ordering": "rank"}, "ordering", "needs a search"),
        ({"search": "s" * 501}, "search", "at most 500 characters"),
        ({"page_size": "500"}, "page_size", "between 1 and 200"),
    ],
    ids=lambda v: str(v)[:40],
)
def test_bad_list_parameters_are_a_400_naming_the_parameter(
    api: APIClient, params: dict[str, str], field: str, message: str
) -> None:
    create_task(api)

    response = api.get("/api/v1/tasks/", params)

    assert response.status_code == 400
    assert message in str(response.json()[field]), response.json()


def test_every_bad_parameter_is_reported_at_once(api: APIClient) -> None:
    response = api.get("/api/v1/tasks/", {"status": "x", "priority": "y", "ordering": "z"})

    assert response.status_code == 400
    assert set(response.json()) == {"status", "priority", "ordering"}


def test_an_ordering_key_given_again_is_ignored_and_the_first_direction_wins(
    api: APIClient,
) -> None:
    create_task(api, title="B")
    create_task(api, title="A")

    response = api.get("/api/v1/tasks/?ordering=title,-title")

    assert response.status_code == 200
    assert [task["title"] for task in response.json()["results"]] == ["A", "B"]
