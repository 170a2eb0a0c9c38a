"""A tool call emits the same events, with the same data shape, as the equivalent REST call."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from django.db.models import Max
from rest_framework.test import APIClient

from tests.chatbot_app.conftest import call_tool, ok
from tests.conftest import create_task
from webapp.events.models import OutboxEvent

DUE = "2030-05-01T09:00:00+00:00"


def last_sequence() -> int:
    value: int | None = OutboxEvent.objects.aggregate(last=Max("sequence"))["last"]
    return value or 0


def shape(value: Any) -> Any:
    """The structure of an event's data: keys and value types, not the values themselves."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__


def events_of(action: Callable[[], object]) -> list[tuple[str, str, Any]]:
    since = last_sequence()
    action()
    rows = OutboxEvent.objects.filter(sequence__gt=since).order_by("sequence")
    return [(row.type, row.topic, row.envelope["data"]) for row in rows]


def assert_same_events(rest: list[tuple[str, str, Any]], tool: list[tuple[str, str, Any]]) -> None:
    assert [(kind, topic) for kind, topic, _ in tool] == [(kind, topic) for kind, topic, _ in rest]
    assert [shape(data) for _, _, data in tool] == [shape(data) for _, _, data in rest]
    for (_, _, rest_data), (_, _, tool_data) in zip(rest, tool, strict=True):
        assert tool_data.get("changes") == rest_data.get("changes")
        for field in ("title", "priority", "tags", "status", "due_at", "description"):
            assert tool_data["task"][field] == rest_data["task"][field], field


def test_add_task_emits_what_post_tasks_emits(api: APIClient, owner_token: str) -> None:
    body = {"title": "Rent", "priority": "high", "tags": ["home"], "due_at": DUE}

    rest = events_of(lambda: create_task(api, **body))
    tool = events_of(lambda: ok(call_tool(owner_token, "add_task", body)))

    assert [kind for kind, _, _ in tool] == ["todo.task.created.v1"]
    assert_same_events(rest, tool)


def test_updates_emit_what_patch_emits(api: APIClient, owner_token: str) -> None:
    by_rest = create_task(api, title="Draft", tags=["home"])
    by_tool = create_task(api, title="Draft", tags=["home"])
    cases: list[tuple[dict[str, Any], str, dict[str, Any]]] = [
        ({"title": "Final"}, "update_task", {"title": "Final"}),
        ({"priority": "urgent"}, "set_priority", {"priority": "urgent"}),
        ({"tags": ["home", "bills"]}, "add_tag", {"tag": "bills"}),
        ({"tags": ["bills"]}, "remove_tag", {"tag": "home"}),
        ({"due_at": DUE}, "update_task", {"due_at": DUE}),
    ]

    for patch, name, arguments in cases:
        rest = events_of(
            partial(api.patch, f"/api/v1/tasks/{by_rest['id']}/", patch, format="json")
        )
        tool = events_of(
            partial(call_tool, owner_token, name, {"task_id": by_tool["id"], **arguments})
        )
        assert [kind for kind, _, _ in tool] == ["todo.task.updated.v1"], name
        assert_same_events(rest, tool)


def test_status_changes_and_delete_emit_what_rest_emits(api: APIClient, owner_token: str) -> None:
    by_rest = create_task(api, title="Chore")
    by_tool = create_task(api, title="Chore")
    steps = [
        ("complete", "complete_task"),
        ("complete", "complete_task"),
        ("reopen", "reopen_task"),
    ]

    for verb, name in steps:
        rest = events_of(partial(api.post, f"/api/v1/tasks/{by_rest['id']}/{verb}/"))
        tool = events_of(partial(call_tool, owner_token, name, {"task_id": by_tool["id"]}))
        assert_same_events(rest, tool)
    rest = events_of(lambda: api.delete(f"/api/v1/tasks/{by_rest['id']}/"))
    tool = events_of(lambda: ok(call_tool(owner_token, "delete_task", {"task_id": by_tool["id"]})))

    assert [kind for kind, _, _ in tool] == ["todo.task.deleted.v1"]
    assert_same_events(rest, tool)


def test_a_refused_tool_call_emits_nothing(owner_token: str, read_token: str) -> None:
    assert events_of(lambda: call_tool(owner_token, "add_task", {"title": ""})) == []
    assert events_of(lambda: call_tool(read_token, "add_task", {"title": "x"})) == []
