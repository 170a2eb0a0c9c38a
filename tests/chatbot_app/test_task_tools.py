"""Task tools through an MCP client session: happy paths, and the REST API's own error messages."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import anyio
from django.contrib.auth.models import User
from django.utils import timezone
from mcp import Client
from rest_framework.test import APIClient

from chatbot_app.principal import local_credential
from tasks_app.models import Priority, Status, Task
from tests.chatbot_app.conftest import call_tool, mcp_server, ok, tool_error
from tests.conftest import create_task

TASK_TOOLS = {
    "add_task",
    "list_tasks",
    "get_task",
    "update_task",
    "complete_task",
    "reopen_task",
    "delete_task",
    "set_priority",
    "add_tag",
    "remove_tag",
}
NOT_FOUND = {"detail": "No task matches the given query."}


def list_tools(credential: str) -> dict[str, Any]:
    async def scenario() -> dict[str, Any]:
        with local_credential(credential):
            async with Client(mcp_server()) as client:
                listed = await client.list_tools()
                return {tool.name: tool for tool in listed.tools}

    return anyio.run(scenario)


def test_the_server_publishes_typed_tools_with_write_hints(owner_token: str) -> None:
    tools = list_tools(owner_token)

    assert set(tools) >= TASK_TOOLS
    add = tools["add_task"].input_schema
    assert add["required"] == ["title"]
    assert {"title", "description", "priority", "tags", "due_at"} == set(add["properties"])
    assert "user" not in add["properties"]
    assert tools["list_tasks"].annotations.read_only_hint is True
    assert tools["add_task"].annotations.read_only_hint is False
    assert tools["delete_task"].annotations.destructive_hint is True


def test_add_task_creates_the_task_with_priority_names(owner: User, owner_token: str) -> None:
    due = (timezone.now() + timedelta(days=2)).replace(microsecond=0)

    task = ok(
        call_tool(
            owner_token,
            "add_task",
            {
                "title": " Pay rent ",
                "priority": "urgent",
                "tags": ["Home"],
                "due_at": due.isoformat(),
            },
        )
    )

    row = Task.objects.get(pk=task["id"])
    assert row.owner == owner and row.title == "Pay rent" and row.tags == ["home"]
    assert row.priority == Priority.URGENT and row.due_at == due
    assert task["priority"] == "urgent" and task["status"] == "pending"


def test_add_task_errors_are_the_rest_apis(api: APIClient, owner_token: str) -> None:
    body = {"title": "", "priority": "super", "tags": ["Not valid!"], "due_at": "tomorrow"}

    error = tool_error(call_tool(owner_token, "add_task", body))

    rest = api.post("/api/v1/tasks/", body, format="json")
    assert rest.status_code == 400
    assert error == rest.json()
    assert set(error) == {"title", "priority", "due_at"}
    assert not Task.objects.exists()


def test_a_priority_number_is_refused(owner_token: str) -> None:
    result = call_tool(owner_token, "add_task", {"title": "x", "priority": 3})

    assert result.is_error
    assert not Task.objects.exists()


def test_list_tasks_filters_searches_orders_and_pages(api: APIClient, owner_token: str) -> None:
    create_task(api, title="Pay rent", priority="high", tags=["home", "bills"])
    create_task(api, title="Buy groceries", priority="low", tags=["home"])
    create_task(api, title="File taxes", priority="urgent", tags=["bills"])

    everything = ok(call_tool(owner_token, "list_tasks"))
    bills = ok(call_tool(owner_token, "list_tasks", {"tags": ["bills"], "ordering": "title"}))
    found = ok(call_tool(owner_token, "list_tasks", {"search": "groceries"}))
    second = ok(call_tool(owner_token, "list_tasks", {"page": 2, "page_size": 2}))

    assert [t["title"] for t in everything["results"]] == [
        "File taxes",
        "Pay rent",
        "Buy groceries",
    ]
    assert [t["title"] for t in bills["results"]] == ["File taxes", "Pay rent"]
    assert [t["title"] for t in found["results"]] == ["Buy groceries"]
    assert second["count"] == 3 and not second["has_more"]
    assert [t["title"] for t in second["results"]] == ["Buy groceries"]


def test_list_tasks_combines_flags_like_the_rest_api(api: APIClient, owner_token: str) -> None:
    past = (timezone.now() - timedelta(days=1)).isoformat()
    late = create_task(api, title="Late", due_at=past)
    create_task(api, title="No date")

    overdue = ok(call_tool(owner_token, "list_tasks", {"overdue": True}))
    undated = ok(call_tool(owner_token, "list_tasks", {"has_due": False, "status": "pending"}))

    assert [t["id"] for t in overdue["results"]] == [late["id"]]
    assert [t["title"] for t in undated["results"]] == ["No date"]


def test_list_tasks_errors_are_the_rest_apis(api: APIClient, owner_token: str) -> None:
    error = tool_error(
        call_tool(
            owner_token,
            "list_tasks",
            {"ordering": "bogus", "priority": ["extreme"], "status": "later"},
        )
    )

    rest = api.get("/api/v1/tasks/?ordering=bogus&priority=extreme&status=later")
    assert rest.status_code == 400
    assert error == rest.json()
    assert tool_error(call_tool(owner_token, "list_tasks", {"page_size": 500})) == (
        api.get("/api/v1/tasks/?page_size=500").json()
    )
    assert tool_error(call_tool(owner_token, "list_tasks", {"page": 9})) == (
        api.get("/api/v1/tasks/?page=9").json()
    )


def test_get_task_returns_the_task_and_a_missing_one_is_the_rest_404(
    api: APIClient, owner_token: str
) -> None:
    made = create_task(api, title="Read me")

    assert ok(call_tool(owner_token, "get_task", {"task_id": made["id"]})) == made
    missing = "00000000-0000-0000-0000-000000000000"
    assert tool_error(call_tool(owner_token, "get_task", {"task_id": missing})) == NOT_FOUND
    assert tool_error(call_tool(owner_token, "get_task", {"task_id": "nope"})) == NOT_FOUND
    assert api.get(f"/api/v1/tasks/{missing}/").json() == NOT_FOUND


def test_update_task_changes_only_the_given_fields(api: APIClient, owner_token: str) -> None:
    due = (timezone.now() + timedelta(days=1)).isoformat()
    made = create_task(api, title="Draft", description="keep me", due_at=due, tags=["work"])

    changed = ok(
        call_tool(owner_token, "update_task", {"task_id": made["id"], "title": "Final", "tags": []})
    )
    cleared = ok(
        call_tool(owner_token, "update_task", {"task_id": made["id"], "clear_due_at": True})
    )

    assert changed["title"] == "Final" and changed["tags"] == []
    assert changed["description"] == "keep me" and changed["due_at"] is not None
    assert cleared["due_at"] is None and cleared["title"] == "Final"


def test_update_task_errors_are_the_rest_apis(api: APIClient, owner_token: str) -> None:
    made = create_task(api, title="Draft")
    body = {"title": "x" * 201, "priority": "super"}

    error = tool_error(call_tool(owner_token, "update_task", {"task_id": made["id"], **body}))

    assert error == api.patch(f"/api/v1/tasks/{made['id']}/", body, format="json").json()
    both = {"task_id": made["id"], "due_at": timezone.now().isoformat(), "clear_due_at": True}
    assert "due_at" in tool_error(call_tool(owner_token, "update_task", both))
    assert Task.objects.get(pk=made["id"]).title == "Draft"


def test_complete_and_reopen_toggle_the_status(api: APIClient, owner_token: str) -> None:
    made = create_task(api, title="Do it")

    done = ok(call_tool(owner_token, "complete_task", {"task_id": made["id"]}))
    again = ok(call_tool(owner_token, "complete_task", {"task_id": made["id"]}))
    reopened = ok(call_tool(owner_token, "reopen_task", {"task_id": made["id"]}))

    assert done["status"] == "completed" and done["completed_at"] is not None
    assert again["completed_at"] == done["completed_at"]
    assert reopened["status"] == "pending" and reopened["completed_at"] is None
    missing = {"task_id": "00000000-0000-0000-0000-000000000000"}
    assert tool_error(call_tool(owner_token, "complete_task", missing)) == NOT_FOUND
    assert tool_error(call_tool(owner_token, "reopen_task", missing)) == NOT_FOUND


def test_delete_task_deletes_it(api: APIClient, owner_token: str) -> None:
    made = create_task(api, title="Throw away")

    result = ok(call_tool(owner_token, "delete_task", {"task_id": made["id"]}))

    assert result == {"deleted": {"id": made["id"], "title": "Throw away"}}
    assert not Task.objects.filter(pk=made["id"]).exists()
    assert tool_error(call_tool(owner_token, "delete_task", {"task_id": made["id"]})) == NOT_FOUND


def test_set_priority_takes_names_and_refuses_others(api: APIClient, owner_token: str) -> None:
    made = create_task(api, title="Triage")

    assert (
        ok(call_tool(owner_token, "set_priority", {"task_id": made["id"], "priority": "high"}))[
            "priority"
        ]
        == "high"
    )
    error = tool_error(
        call_tool(owner_token, "set_priority", {"task_id": made["id"], "priority": "4"})
    )

    rest = api.patch(f"/api/v1/tasks/{made['id']}/", {"priority": "4"}, format="json").json()
    assert error == rest == {"priority": ['"4" is not a valid choice.']}
    assert Task.objects.get(pk=made["id"]).priority == Priority.HIGH


def test_add_and_remove_tag(api: APIClient, owner_token: str) -> None:
    made = create_task(api, title="Tag me", tags=["home"])

    added = ok(call_tool(owner_token, "add_tag", {"task_id": made["id"], "tag": "Bills"}))
    twice = ok(call_tool(owner_token, "add_tag", {"task_id": made["id"], "tag": "bills"}))
    removed = ok(call_tool(owner_token, "remove_tag", {"task_id": made["id"], "tag": "HOME"}))

    assert added["tags"] == ["home", "bills"] and twice["tags"] == ["home", "bills"]
    assert removed["tags"] == ["bills"]


def test_tag_errors(api: APIClient, owner_token: str) -> None:
    made = create_task(api, title="Tag me", tags=["home"])

    bad = tool_error(call_tool(owner_token, "add_tag", {"task_id": made["id"], "tag": "no spaces"}))
    absent = tool_error(
        call_tool(owner_token, "remove_tag", {"task_id": made["id"], "tag": "work"})
    )

    rest = api.patch(
        f"/api/v1/tasks/{made['id']}/", {"tags": ["home", "no spaces"]}, format="json"
    ).json()
    assert bad == rest
    assert absent == {"tag": ["The task has no tag 'work'."]}
    assert Task.objects.get(pk=made["id"]).tags == ["home"]


def test_a_tool_never_sees_or_touches_another_users_tasks(
    api: APIClient, outsider_token: str
) -> None:
    theirs = create_task(api, title="Olivia's secret", tags=["private"])
    task_id = theirs["id"]

    assert ok(call_tool(outsider_token, "list_tasks"))["results"] == []
    assert ok(call_tool(outsider_token, "list_tasks", {"search": "secret"}))["count"] == 0
    for name, extra in [
        ("get_task", {}),
        ("update_task", {"title": "Mine now"}),
        ("complete_task", {}),
        ("reopen_task", {}),
        ("delete_task", {}),
        ("set_priority", {"priority": "low"}),
        ("add_tag", {"tag": "stolen"}),
        ("remove_tag", {"tag": "private"}),
    ]:
        assert tool_error(call_tool(outsider_token, name, {"task_id": task_id, **extra})) == (
            NOT_FOUND
        ), name
    task = Task.objects.get(pk=task_id)
    assert task.title == "Olivia's secret" and task.status == Status.PENDING
    assert task.tags == ["private"] and task.priority == Priority.MEDIUM
