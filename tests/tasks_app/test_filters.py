"""Every list filter alone and combined, against real PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from tasks_app.models import Task
from tests.tasks_app.conftest import make_task

ALL = {"rent", "groceries", "report", "book", "standup", "taxes"}


def listed(api: APIClient, catalogue: dict[str, Task], params: Any) -> set[str]:
    response = api.get("/api/v1/tasks/", params)
    assert response.status_code == 200, response.content
    names = {str(task.id): name for name, task in catalogue.items()}
    body = response.json()
    assert body["count"] == len(body["results"])
    return {names[item["id"]] for item in body["results"]}


def iso(moment: datetime) -> str:
    return moment.isoformat()


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, ALL),
        ({"status": "pending"}, ALL - {"report"}),
        ({"status": "completed"}, {"report"}),
        ({"priority": "high"}, {"rent", "taxes"}),
        ({"priority": ["high", "urgent"]}, {"rent", "taxes", "report"}),
        ({"priority": "high,low"}, {"rent", "taxes", "book"}),
        ({"priority": ["low", "medium,urgent"]}, {"book", "groceries", "standup", "report"}),
        ({"tags": "home"}, {"rent", "groceries"}),
        ({"tags": "work,bills"}, {"rent", "report", "standup", "taxes"}),
        ({"tags": ["work", "food"]}, {"report", "standup", "groceries"}),
        ({"tags": "HOME"}, {"rent", "groceries"}),
        ({"tags_all": "home,bills"}, {"rent"}),
        ({"tags_all": ["work", "daily"]}, {"standup"}),
        ({"tags_all": "work"}, {"report", "standup"}),
        ({"overdue": "true"}, {"rent"}),
        ({"overdue": "false"}, ALL - {"rent"}),
        ({"has_due": "true"}, ALL - {"book"}),
        ({"has_due": "false"}, {"book"}),
        ({"recurring": "true"}, {"standup"}),
        ({"recurring": "false"}, ALL - {"standup"}),
        ({"search": "rent"}, {"rent"}),
        ({"search": "bills"}, {"rent", "taxes"}),
    ],
    ids=lambda value: str(value),
)
def test_each_filter_alone_selects_matching_tasks(
    api: APIClient, catalogue: dict[str, Task], params: dict[str, Any], expected: set[str]
) -> None:
    assert listed(api, catalogue, params) == expected


def test_due_before_and_after_filter_on_either_side_of_a_moment(
    api: APIClient, catalogue: dict[str, Task], now: datetime
) -> None:
    assert listed(api, catalogue, {"due_before": iso(now)}) == {"rent", "report"}
    assert listed(api, catalogue, {"due_after": iso(now)}) == {"groceries", "standup", "taxes"}
    window = {"due_after": iso(now - timedelta(days=1, hours=1)), "due_before": iso(now)}
    assert listed(api, catalogue, window) == {"rent"}


def test_due_after_includes_the_exact_moment_and_due_before_excludes_it(
    api: APIClient, catalogue: dict[str, Task]
) -> None:
    due = catalogue["taxes"].due_at
    assert due is not None
    assert "taxes" in listed(api, catalogue, {"due_after": iso(due)})
    assert "taxes" not in listed(api, catalogue, {"due_before": iso(due)})


def test_due_filters_accept_any_offset_and_compare_in_utc(
    api: APIClient, catalogue: dict[str, Task], now: datetime
) -> None:
    # -23:11 is valid RFC 3339 but beyond what PostgreSQL accepts as a time zone offset.
    far_west = timezone(-timedelta(hours=23, minutes=11))
    assert listed(api, catalogue, {"due_before": iso(now.astimezone(far_west))}) == {
        "rent",
        "report",
    }
    assert listed(api, catalogue, {"due_before": "0872-12-16T19:27:09.6-23:11"}) == set()


def test_series_filter_lists_only_that_series_instances(
    api: APIClient, catalogue: dict[str, Task]
) -> None:
    series_id = str(catalogue["standup"].series_id)
    assert listed(api, catalogue, {"series": series_id}) == {"standup"}


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"status": "pending", "tags": "bills", "has_due": "true"}, {"rent", "taxes"}),
        ({"priority": "high", "overdue": "true"}, {"rent"}),
        ({"recurring": "false", "has_due": "true", "tags": "work"}, {"report"}),
        ({"tags": "home", "tags_all": "home,food"}, {"groceries"}),
        ({"search": "bills", "priority": "high", "overdue": "false"}, {"taxes"}),
        ({"status": "completed", "priority": "low"}, set()),
        ({"recurring": "true", "tags_all": "daily", "has_due": "true"}, {"standup"}),
    ],
    ids=lambda value: str(value),
)
def test_filters_combine_with_and(
    api: APIClient, catalogue: dict[str, Task], params: dict[str, Any], expected: set[str]
) -> None:
    assert listed(api, catalogue, params) == expected


def test_due_window_combines_with_status_and_priority(
    api: APIClient, catalogue: dict[str, Task], now: datetime
) -> None:
    params = {
        "due_after": iso(now - timedelta(days=5)),
        "due_before": iso(now + timedelta(days=5)),
        "status": "pending",
        "priority": "high,medium",
    }
    assert listed(api, catalogue, params) == {"rent", "groceries", "standup"}


def test_a_completed_task_is_never_overdue(
    api: APIClient, owner: User, now: datetime, catalogue: dict[str, Task]
) -> None:
    late = make_task(owner, "Late but done", due_at=now - timedelta(hours=1), completed=True)
    catalogue["late"] = late

    assert "late" not in listed(api, catalogue, {"overdue": "true"})
    assert "late" in listed(api, catalogue, {"overdue": "false"})


def test_search_matches_description_and_stemmed_words(
    api: APIClient, owner: User, catalogue: dict[str, Task]
) -> None:
    catalogue["call"] = make_task(owner, "Call Bob", description="about the invoices he sent")

    assert listed(api, catalogue, {"search": "invoice"}) == {"call"}
    assert listed(api, catalogue, {"search": '"the invoices" -rent'}) == {"call"}
    assert listed(api, catalogue, {"search": "bob OR groceries"}) == {"call", "groceries"}
