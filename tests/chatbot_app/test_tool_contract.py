"""The tools as a client meets them: input schemas with enums, the REST API's JSON error body
for every refusal, and the repeating-task tools keeping what the user did not ask to change."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import time_machine
from django.contrib.auth.models import User
from django.db import connection, connections, transaction
from mcp import Client
from mcp_types import CallToolResult

from notifications_app.models import Reminder
from recurrence_app.models import RecurringSeries
from tasks_app.models import Task
from tests.chatbot_app.conftest import call_tool, mcp_server, ok, tool_error

NOW = datetime(2030, 5, 6, 12, 0, tzinfo=UTC)
DUE = datetime(2030, 5, 8, 7, 0, tzinfo=UTC)  # 09:00 in Berlin


def input_schema(name: str) -> dict[str, Any]:
    async def scenario() -> dict[str, Any]:
        async with Client(mcp_server(), mode="legacy") as client:
            listed = await client.list_tools()
        return next(tool.input_schema for tool in listed.tools if tool.name == name)

    return anyio.run(scenario)


def enum_of(schema: dict[str, Any], name: str) -> list[str]:
    """The enum of an argument, whether optional (anyOf with null) or a list of choices."""
    prop = schema["properties"][name]
    for variant in prop.get("anyOf", [prop]):
        if "enum" in variant:
            return list(variant["enum"])
        if "enum" in variant.get("items", {}):
            return list(variant["items"]["enum"])
    raise AssertionError(f"{name} has no enum: {prop}")


def test_input_schemas_name_the_choices() -> None:
    priorities = ["low", "medium", "high", "urgent"]
    assert enum_of(input_schema("add_task"), "priority") == priorities
    assert enum_of(input_schema("set_priority"), "priority") == priorities
    assert enum_of(input_schema("list_tasks"), "priority") == priorities
    assert enum_of(input_schema("list_tasks"), "status") == ["pending", "completed"]
    assert enum_of(input_schema("set_recurring"), "anchor") == ["due", "completion"]
    assert enum_of(input_schema("set_reminder"), "channels") == ["email", "push", "in_app"]
    assert enum_of(input_schema("list_notifications"), "channel") == ["email", "push", "in_app"]
    assert input_schema("set_priority")["required"] == ["task_id", "priority"]


def test_an_argument_of_the_wrong_type_gets_the_json_error_body(owner_token: str) -> None:
    made = ok(call_tool(owner_token, "add_task", {"title": "Call the bank"}))

    wrong_priority = tool_error(
        call_tool(owner_token, "set_priority", {"task_id": made["id"], "priority": 4})
    )
    wrong_title = tool_error(call_tool(owner_token, "add_task", {"title": 7}))
    wrong_flag = tool_error(call_tool(owner_token, "list_tasks", {"overdue": "yes"}))

    assert wrong_priority == {"priority": ["Input should be a valid string."]}
    assert wrong_title == {"title": ["Input should be a valid string."]}
    assert wrong_flag == {"overdue": ["Input should be a valid boolean."]}
    assert Task.objects.get().priority == 2  # medium, untouched


def test_a_bad_choice_gets_the_rest_apis_message(owner_token: str) -> None:
    made = ok(call_tool(owner_token, "add_task", {"title": "Call the bank"}))

    refused = tool_error(
        call_tool(owner_token, "set_priority", {"task_id": made["id"], "priority": "extreme"})
    )

    assert refused == {"priority": ['"extreme" is not a valid choice.']}


def test_an_unknown_argument_is_refused_as_rest_refuses_an_unknown_field(
    owner_token: str,
) -> None:
    refused = tool_error(
        call_tool(owner_token, "add_task", {"title": "Call the bank", "colour": "red"})
    )
    made = ok(call_tool(owner_token, "add_task", {"title": "Call the bank"}))

    assert refused == {"colour": ["Unknown field."]}
    assert made["title"] == "Call the bank" and Task.objects.count() == 1


def test_durations_are_described_as_iso_8601(owner_token: str) -> None:
    with time_machine.travel(NOW, tick=False):
        made = ok(call_tool(owner_token, "add_task", {"title": "Gym", "due_at": DUE.isoformat()}))
        new_series = tool_error(
            call_tool(
                owner_token,
                "set_recurring",
                {"task_id": made["id"], "rule": "daily", "lead_time": "1 00:00:00"},
            )
        )
        ok(call_tool(owner_token, "set_recurring", {"task_id": made["id"], "rule": "daily"}))
        edit = tool_error(
            call_tool(
                owner_token,
                "set_recurring",
                {"task_id": made["id"], "rule": "daily", "lead_time": "01:00:00"},
            )
        )
        reminder = tool_error(
            call_tool(owner_token, "set_reminder", {"task_id": made["id"], "before": "01:00:00"})
        )

    assert "ISO 8601" in new_series["recurrence"]["lead_time"][0]
    assert "ISO 8601" in edit["lead_time"][0]
    assert "ISO 8601" in reminder["before"][0]


def test_set_recurring_on_a_repeating_task_keeps_the_task_its_reminders_zone_and_anchor(
    owner: User, owner_token: str
) -> None:
    at = NOW + timedelta(hours=6)
    with time_machine.travel(NOW, tick=False):
        made = ok(call_tool(owner_token, "add_task", {"title": "Gym", "due_at": DUE.isoformat()}))
        ok(call_tool(owner_token, "set_reminder", {"task_id": made["id"], "at": at.isoformat()}))
        first = ok(
            call_tool(
                owner_token,
                "set_recurring",
                {
                    "task_id": made["id"],
                    "rule": "daily",
                    "timezone": "Europe/Berlin",
                    "anchor": "completion",
                },
            )
        )
        changed = ok(
            call_tool(
                owner_token,
                "set_recurring",
                {"task_id": made["id"], "rule": "FREQ=WEEKLY;BYDAY=MO,WE,FR"},
            )
        )

    series = RecurringSeries.objects.get()
    assert changed["series"]["id"] == first["series"]["id"] == str(series.pk)
    assert series.rule == "FREQ=WEEKLY;BYDAY=MO,WE,FR"
    assert (series.timezone, series.anchor) == ("Europe/Berlin", "completion")
    assert changed["task"]["id"] == made["id"]
    kept = Task.objects.get(pk=made["id"])
    assert kept.series_id == series.pk
    # Wednesday 8 May 2030 at 09:00 in Berlin is an occurrence of the new rule too.
    assert kept.due_at == kept.occurrence == DUE
    assert [r.at for r in Reminder.objects.filter(task=kept)] == [at]
    assert Task.objects.count() == 1


def waiting_for_locks() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE wait_event_type = 'Lock' AND datname = current_database()"
        )
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def test_concurrent_tag_edits_both_count(owner_token: str) -> None:
    made = ok(call_tool(owner_token, "add_task", {"title": "Pack", "tags": ["trip"]}))
    locked, release = threading.Event(), threading.Event()
    results: dict[str, CallToolResult] = {}

    def hold_the_task() -> None:
        try:
            with transaction.atomic():
                Task.objects.select_for_update().get(pk=made["id"])
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    def edit(name: str, arguments: dict[str, Any]) -> None:
        results[name] = call_tool(owner_token, name, {"task_id": made["id"], **arguments})

    holder = threading.Thread(target=hold_the_task)
    holder.start()
    assert locked.wait(10)
    editors = [
        threading.Thread(target=edit, args=("add_tag", {"tag": "passport"})),
        threading.Thread(target=edit, args=("remove_tag", {"tag": "trip"})),
    ]
    for editor in editors:
        editor.start()
    deadline = time.monotonic() + 10
    while waiting_for_locks() < len(editors):  # both edits have read what they read
        assert time.monotonic() < deadline, "the edits never queued for the task"
        time.sleep(0.02)
    release.set()
    for thread in (holder, *editors):
        thread.join(30)

    assert not results["add_tag"].is_error and not results["remove_tag"].is_error
    assert Task.objects.get(pk=made["id"]).tags == ["passport"]
