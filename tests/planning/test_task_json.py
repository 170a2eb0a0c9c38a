"""The list's JSON, rendered by PostgreSQL (planning.task_json), is TaskSerializer's JSON.

Tasks with every shape of every field (nulls, microseconds and none, all priorities, tags
with quotes and non-ASCII text, recurring instances and exceptions, completed tasks, reminders
before and at, of every duration shape and status) are listed through the API and compared,
key by key and in order, with what the serializer gives for the same rows.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import connection
from django.http import QueryDict
from django.test.utils import CaptureQueriesContext
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from notifications_app.models import Reminder, ReminderStatus
from planning.serializers import TaskSerializer
from tasks_app.models import Task
from tasks_app.selectors import task_list
from tests.conftest import create_task

DURATIONS = [
    timedelta(0),
    timedelta(seconds=59),
    timedelta(minutes=10),
    timedelta(hours=1, minutes=30),
    timedelta(days=1),
    timedelta(days=2, hours=3, minutes=4, seconds=5),
    timedelta(days=7, seconds=1),
    timedelta(minutes=5, microseconds=250_000),  # representation drops the fraction
]


def serialized(owner: User) -> list[dict[str, Any]]:
    """What TaskSerializer renders for the owner's list, as a client receives it."""
    rows = task_list(user=owner, filters=QueryDict())
    rendered: list[dict[str, Any]] = json.loads(
        JSONRenderer().render(TaskSerializer(rows, many=True).data)
    )
    return rendered


def listed(api: APIClient, query: str = "") -> Any:
    response = api.get(f"/api/v1/tasks/?page_size=200{query}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return json.loads(response.content)


def test_every_field_shape_renders_as_the_serializer_renders_it(
    api: APIClient, owner: User
) -> None:
    create_task(api, title="No due date")
    create_task(
        api,
        title='Quotes " and \\ back\u2028slash, ünïcode 🎉 </script>',
        description="Two\nlines\tand a tab",
        priority="urgent",
        tags=["home", "b-2", "x_y"],
        due_at="2031-01-02T03:04:05.678901Z",
        reminders=[{"before": "PT10M"}, {"at": "2031-01-01T08:00:00Z", "channels": ["email"]}],
    )
    create_task(api, title="Low", priority="low", due_at="2031-02-01T00:00:00Z")
    create_task(
        api,
        title="Standup",
        priority="high",
        due_at="2031-01-06T09:00:00Z",
        recurrence={"rule": "FREQ=DAILY;COUNT=3", "timezone": "Europe/Berlin"},
    )
    done = create_task(api, title="Done", priority="medium", due_at="2031-03-01T12:00:00Z")
    assert api.post(f"/api/v1/tasks/{done['id']}/complete/").status_code == 200

    task = Task.objects.get(title="Low")
    for n, before in enumerate(DURATIONS):
        Reminder.objects.create(
            task=task,
            before=before,
            channels=["email", "push", "in_app"][: 1 + n % 3],
            fire_at=datetime(2031, 1, 31, 23, 0, n, n * 1000, tzinfo=UTC),
            status=list(ReminderStatus)[n % len(ReminderStatus)],
            fired_at=datetime(2031, 1, 31, 23, 0, 0, tzinfo=UTC) if n % 2 else None,
        )
    Task.objects.filter(title="Standup").update(is_exception=True)  # one shape, not all

    expected = serialized(owner)
    answer = listed(api)

    assert answer["count"] == len(expected) == 5
    assert answer["results"] == expected
    assert [list(task) for task in answer["results"]] == [list(task) for task in expected]
    assert any(task["series"] and task["occurrence"] for task in expected)
    assert any(task["completed_at"] for task in expected)
    assert sorted(r["before"] for t in expected for r in t["reminders"] if r["before"]) == sorted(
        ["P1D", "P2DT3H4M5S", "P7DT1S", "PT0S", "PT10M", "PT10M", "PT1H30M", "PT59S", "PT5M"]
    )


def test_filters_search_and_paging_still_come_from_the_list_query(api: APIClient) -> None:
    for n in range(3):
        create_task(api, title=f"Water the plants {n}", tags=["garden"], priority="high")
    create_task(api, title="Call the bank", tags=["money"])

    searched = listed(api, "&search=plants&ordering=-rank,title")
    page = api.get("/api/v1/tasks/?tags=garden&page_size=2&page=2").json()

    assert [task["title"] for task in searched["results"]] == [
        "Water the plants 0",
        "Water the plants 1",
        "Water the plants 2",
    ]
    assert page["count"] == 3 and len(page["results"]) == 1
    assert page["previous"].endswith("page_size=2&tags=garden") and page["next"] is None


def test_a_page_is_two_statements_however_many_reminders_its_tasks_have(
    api: APIClient,
) -> None:
    for n in range(4):
        create_task(
            api,
            title=f"Task {n}",
            due_at="2031-05-01T10:00:00Z",
            reminders=[{"before": "PT1H"}, {"before": "PT5M"}],
        )

    with CaptureQueriesContext(connection) as queries:
        answer = listed(api)

    on_tasks = [query["sql"] for query in queries if "tasks_app_task" in query["sql"]]
    assert len(on_tasks) == 2, on_tasks  # the count, and the page with its reminders
    assert [len(task["reminders"]) for task in answer["results"]] == [2, 2, 2, 2]
