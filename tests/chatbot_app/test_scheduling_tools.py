"""Recurrence, reminder and notification tools, end to end through the inline event runtime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import time_machine
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from notifications_app.models import Notification, Reminder
from recurrence_app.models import RecurringSeries, SeriesStatus
from tasks_app.models import Status, Task
from tests.chatbot_app.conftest import call_tool, ok, tool_error
from tests.conftest import create_task
from webapp.events.runtimes.inline import InlineRuntime

BERLIN = ZoneInfo("Europe/Berlin")
NOT_FOUND = {"detail": "No task matches the given query."}


def test_pay_rent_on_the_first_of_every_month_reminded_a_day_before(
    owner: User, owner_token: str, inline_runtime: InlineRuntime
) -> None:
    first_due = datetime(2030, 1, 1, 9, 0, tzinfo=BERLIN)
    with time_machine.travel(datetime(2029, 12, 20, 12, 0, tzinfo=UTC), tick=False):
        task = ok(
            call_tool(
                owner_token, "add_task", {"title": "Pay rent", "due_at": first_due.isoformat()}
            )
        )
        made = ok(
            call_tool(
                owner_token,
                "set_recurring",
                {"task_id": task["id"], "rule": "monthly", "timezone": "Europe/Berlin"},
            )
        )
        reminded = ok(
            call_tool(owner_token, "set_reminder", {"task_id": task["id"], "before": "P1D"})
        )

    series = RecurringSeries.objects.get()
    assert made["series"]["id"] == str(series.pk) and made["task"]["id"] == task["id"]
    assert series.rule == "FREQ=MONTHLY" and series.timezone == "Europe/Berlin"
    assert series.dtstart == first_due
    assert series.reminder_templates == [{"before": "P1D"}]
    assert reminded["reminder"]["before"] == "P1D"
    assert reminded["task"]["series"] == str(series.pk)
    first = Task.objects.get(pk=task["id"])
    assert first.series_id == series.pk and first.occurrence == first_due
    assert Reminder.objects.get(task=first).fire_at == first_due - timedelta(days=1)

    # A month on, the series has made February's task, with its own reminder a day before.
    with time_machine.travel(datetime(2030, 2, 1, 9, 0, tzinfo=BERLIN), tick=False):
        inline_runtime.fire_due_jobs()

    february = Task.objects.exclude(pk=first.pk).get(series=series)
    assert february.title == "Pay rent" and february.due_at == datetime(
        2030, 2, 1, 8, 0, tzinfo=UTC
    )
    assert [r.fire_at for r in Reminder.objects.filter(task=february)] == [
        datetime(2030, 1, 31, 8, 0, tzinfo=UTC)
    ]


def test_presets_expand_to_rules(api: APIClient, owner_token: str) -> None:
    due = (timezone.now() + timedelta(days=3)).isoformat()
    expected = {
        "daily": "FREQ=DAILY",
        "weekdays": "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
        "weekly": "FREQ=WEEKLY",
        "yearly": "FREQ=YEARLY",
        "FREQ=MONTHLY;BYMONTHDAY=1": "FREQ=MONTHLY;BYMONTHDAY=1",
    }
    for rule, stored in expected.items():
        task = create_task(api, title=rule, due_at=due)
        result = ok(call_tool(owner_token, "set_recurring", {"task_id": task["id"], "rule": rule}))
        assert result["series"]["rule"] == stored, rule


def test_set_recurring_errors_are_the_rest_apis(api: APIClient, owner_token: str) -> None:
    due = (timezone.now() + timedelta(days=1)).isoformat()
    task = create_task(api, title="Standup", due_at=due)
    undated = create_task(api, title="Someday")
    bad = {"rule": "FREQ=SOMETIMES", "timezone": "Mars/Olympus"}

    error = tool_error(call_tool(owner_token, "set_recurring", {"task_id": task["id"], **bad}))
    no_date = tool_error(
        call_tool(owner_token, "set_recurring", {"task_id": undated["id"], "rule": "daily"})
    )

    rest = api.post(
        "/api/v1/tasks/", {"title": "x", "due_at": due, "recurrence": bad}, format="json"
    )
    assert rest.status_code == 400 and error == rest.json()
    assert "recurrence" in error
    assert no_date == {"due_at": ["A recurring task needs a due date."]}
    assert not RecurringSeries.objects.exists()


def test_set_recurring_on_a_repeating_task_changes_its_rule(
    api: APIClient, owner_token: str
) -> None:
    due = (timezone.now() + timedelta(days=1)).isoformat()
    task = create_task(api, title="Gym", due_at=due)
    ok(call_tool(owner_token, "set_recurring", {"task_id": task["id"], "rule": "daily"}))

    changed = ok(call_tool(owner_token, "set_recurring", {"task_id": task["id"], "rule": "weekly"}))

    assert RecurringSeries.objects.get().rule == "FREQ=WEEKLY"
    assert changed["series"]["rule"] == "FREQ=WEEKLY" and changed["task"] is not None


def test_stop_recurring_keeps_the_task_and_ends_the_series(
    api: APIClient, owner_token: str
) -> None:
    due = (timezone.now() + timedelta(days=1)).isoformat()
    task = create_task(api, title="Water plants", due_at=due)
    ok(call_tool(owner_token, "set_recurring", {"task_id": task["id"], "rule": "daily"}))

    stopped = ok(call_tool(owner_token, "stop_recurring", {"task_id": task["id"]}))
    again = tool_error(call_tool(owner_token, "stop_recurring", {"task_id": task["id"]}))

    assert RecurringSeries.objects.get().status == SeriesStatus.DELETED
    kept = Task.objects.get(pk=task["id"])
    assert kept.series_id is None and kept.status == Status.PENDING
    assert stopped["task"]["series"] is None and stopped["series"]["status"] == "deleted"
    assert again == {"task_id": ["This task does not repeat."]}


def test_set_and_remove_a_reminder(api: APIClient, owner_token: str) -> None:
    due = timezone.now() + timedelta(days=2)
    task = create_task(api, title="Dentist", due_at=due.isoformat())

    added = ok(
        call_tool(
            owner_token,
            "set_reminder",
            {"task_id": task["id"], "before": "PT2H", "channels": ["email"]},
        )
    )
    reminder_id = added["reminder"]["id"]
    removed = ok(call_tool(owner_token, "remove_reminder", {"reminder_id": reminder_id}))

    assert added["reminder"]["channels"] == ["email"]
    assert added["task"]["reminders"][0]["id"] == reminder_id
    assert removed["task"]["reminders"] == [] and not Reminder.objects.exists()
    gone = tool_error(call_tool(owner_token, "remove_reminder", {"reminder_id": reminder_id}))
    assert gone == api.delete(f"/api/v1/reminders/{reminder_id}/").json()


def test_reminder_errors_are_the_rest_apis(api: APIClient, owner_token: str) -> None:
    task = create_task(api, title="No date")
    cases: list[dict[str, Any]] = [
        {"before": "PT1H", "at": (timezone.now() + timedelta(hours=1)).isoformat()},
        {"before": "PT1H"},
        {"at": "2001-01-01T00:00:00Z"},
        {"before": "PT1H", "channels": ["pigeon"]},
    ]

    for body in cases:
        error = tool_error(call_tool(owner_token, "set_reminder", {"task_id": task["id"], **body}))
        rest = api.post(f"/api/v1/tasks/{task['id']}/reminders/", body, format="json")
        assert rest.status_code == 400 and error == rest.json(), body
    assert not Reminder.objects.exists()
    assert tool_error(call_tool(owner_token, "remove_reminder", {"reminder_id": "nope"})) == {
        "detail": "No such reminder."
    }


def test_list_notifications_shows_the_users_feed(
    api: APIClient, owner_token: str, outsider_token: str, inline_runtime: InlineRuntime
) -> None:
    task = create_task(api, title="Call mum")
    at = timezone.now() + timedelta(minutes=5)
    ok(
        call_tool(
            owner_token,
            "set_reminder",
            {"task_id": task["id"], "at": at.isoformat(), "channels": ["in_app"]},
        )
    )
    with time_machine.travel(at + timedelta(seconds=1), tick=False):
        inline_runtime.fire_due_jobs()

    feed = ok(call_tool(owner_token, "list_notifications", {"channel": "in_app"}))

    assert Notification.objects.filter(channel="in_app").count() == 1
    assert feed["count"] == 1 and feed["results"][0]["task"] == task["id"]
    assert "Call mum" in feed["results"][0]["title"]
    assert ok(call_tool(outsider_token, "list_notifications"))["count"] == 0
    error = tool_error(call_tool(owner_token, "list_notifications", {"channel": "pigeon"}))
    assert error == api.get("/api/v1/notifications/?channel=pigeon").json()


def test_scheduling_tools_never_reach_another_users_tasks(
    api: APIClient, owner_token: str, outsider_token: str
) -> None:
    due = (timezone.now() + timedelta(days=1)).isoformat()
    task = create_task(api, title="Mine", due_at=due)
    reminder = ok(call_tool(owner_token, "set_reminder", {"task_id": task["id"], "before": "PT1H"}))
    attempts: list[tuple[str, dict[str, str]]] = [
        ("set_recurring", {"rule": "daily"}),
        ("stop_recurring", {}),
        ("set_reminder", {"before": "PT5M"}),
    ]

    for name, extra in attempts:
        assert tool_error(call_tool(outsider_token, name, {"task_id": task["id"], **extra})) == (
            NOT_FOUND
        ), name
    refused = call_tool(
        outsider_token, "remove_reminder", {"reminder_id": reminder["reminder"]["id"]}
    )

    assert tool_error(refused) == {"detail": "No such reminder."}
    assert Reminder.objects.count() == 1 and not RecurringSeries.objects.exists()


def test_removing_a_repeating_reminder_takes_it_off_the_series(
    api: APIClient, owner_token: str
) -> None:
    due = (timezone.now() + timedelta(days=1)).isoformat()
    task = create_task(api, title="Stretch", due_at=due)
    ok(call_tool(owner_token, "set_recurring", {"task_id": task["id"], "rule": "daily"}))
    added = ok(call_tool(owner_token, "set_reminder", {"task_id": task["id"], "before": "PT10M"}))
    assert RecurringSeries.objects.get().reminder_templates == [{"before": "PT10M"}]

    removed = ok(
        call_tool(owner_token, "remove_reminder", {"reminder_id": added["reminder"]["id"]})
    )

    assert RecurringSeries.objects.get().reminder_templates == []
    assert removed["task"]["reminders"] == [] and not Reminder.objects.exists()
