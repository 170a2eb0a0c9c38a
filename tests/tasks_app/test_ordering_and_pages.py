"""Search ranking, multi-key ordering and page bounds of the task list."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from tasks_app import services
from tasks_app.models import Task
from tests.tasks_app.conftest import make_task


def titles(api: APIClient, params: dict[str, Any]) -> list[str]:
    response = api.get("/api/v1/tasks/", params)
    assert response.status_code == 200, response.content
    return [item["title"] for item in response.json()["results"]]


def test_a_title_hit_outranks_a_tag_hit_which_outranks_a_description_hit(
    api: APIClient, owner: User
) -> None:
    # Created in the opposite order so insertion order cannot explain the result.
    make_task(owner, "Call Bob", description="ask about the invoice")
    make_task(owner, "Sort papers", tags=["invoice"])
    make_task(owner, "Send invoice to ACME")
    make_task(owner, "Unrelated")

    expected = ["Send invoice to ACME", "Sort papers", "Call Bob"]
    assert titles(api, {"search": "invoice"}) == expected
    assert titles(api, {"search": "invoice", "ordering": "-rank"}) == expected
    assert titles(api, {"search": "invoice", "ordering": "rank"}) == expected[::-1]


def test_rank_can_be_combined_with_other_keys(api: APIClient, owner: User) -> None:
    make_task(owner, "Invoice B", priority="low")
    make_task(owner, "Invoice A", priority="high")
    make_task(owner, "Other", description="invoice")

    assert titles(api, {"search": "invoice", "ordering": "-rank,-priority"}) == [
        "Invoice A",
        "Invoice B",
        "Other",
    ]
    assert titles(api, {"search": "invoice", "ordering": "-rank,title"}) == [
        "Invoice A",
        "Invoice B",
        "Other",
    ]


def test_default_order_is_priority_descending_then_due_soonest_with_due_less_last(
    api: APIClient, owner: User, now: datetime
) -> None:
    make_task(owner, "high, no due", priority="high")
    make_task(owner, "high, later", priority="high", due_at=now + timedelta(days=2))
    make_task(owner, "high, sooner", priority="high", due_at=now + timedelta(days=1))
    make_task(owner, "urgent", priority="urgent", due_at=now + timedelta(days=9))
    make_task(owner, "low", priority="low", due_at=now)

    assert titles(api, {}) == ["urgent", "high, sooner", "high, later", "high, no due", "low"]


def test_tasks_without_due_date_sort_last_in_both_directions(
    api: APIClient, owner: User, now: datetime
) -> None:
    make_task(owner, "none 1")
    make_task(owner, "early", due_at=now + timedelta(hours=1))
    make_task(owner, "late", due_at=now + timedelta(hours=5))

    ascending = titles(api, {"ordering": "due_at"})
    descending = titles(api, {"ordering": "-due_at"})

    assert ascending[:2] == ["early", "late"] and ascending[2:] == ["none 1"]
    assert descending[:2] == ["late", "early"] and descending[2:] == ["none 1"]


def test_ordering_applies_keys_left_to_right(api: APIClient, owner: User, now: datetime) -> None:
    due = now + timedelta(days=1)
    make_task(owner, "b", priority="low", due_at=due)
    make_task(owner, "a", priority="low", due_at=due + timedelta(hours=1))
    make_task(owner, "c", priority="urgent", due_at=due + timedelta(hours=1))
    make_task(owner, "d", priority="urgent")

    assert titles(api, {"ordering": "-due_at,title"}) == ["a", "c", "b", "d"]
    assert titles(api, {"ordering": "priority,-due_at"}) == ["a", "b", "c", "d"]
    assert titles(api, {"ordering": "title"}) == ["a", "b", "c", "d"]
    assert titles(api, {"ordering": "-title"}) == ["d", "c", "b", "a"]


def test_created_and_updated_at_ordering_follow_the_clock(api: APIClient, owner: User) -> None:
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        first = make_task(owner, "first")
    with time_machine.travel(start + timedelta(minutes=1), tick=False):
        make_task(owner, "second")
    with time_machine.travel(start + timedelta(minutes=2), tick=False):
        services.task_update(task=first, changes={"title": "first, edited"})

    assert titles(api, {"ordering": "created_at"}) == ["first, edited", "second"]
    assert titles(api, {"ordering": "-created_at"}) == ["second", "first, edited"]
    assert titles(api, {"ordering": "-updated_at"}) == ["first, edited", "second"]


def bulk_tasks(owner: User, count: int) -> None:
    # Bulk insert: pagination is about counting rows, not about the write path.
    Task.objects.bulk_create(Task(owner=owner, title=f"task {i:03d}") for i in range(count))


def test_pages_default_to_fifty_with_links(api: APIClient, owner: User) -> None:
    bulk_tasks(owner, 120)

    first = api.get("/api/v1/tasks/").json()
    last = api.get("/api/v1/tasks/", {"page": 3}).json()

    assert first["count"] == 120 and len(first["results"]) == 50
    assert first["previous"] is None and first["next"].endswith("/api/v1/tasks/?page=2")
    assert len(last["results"]) == 20 and last["next"] is None
    assert "page=2" in last["previous"]


def test_pages_are_disjoint_and_cover_every_task(api: APIClient, owner: User) -> None:
    bulk_tasks(owner, 45)

    seen: list[str] = []
    url: str | None = "/api/v1/tasks/?page_size=20&ordering=title"
    while url:
        body = api.get(url).json()
        seen.extend(item["id"] for item in body["results"])
        url = body["next"]

    assert len(seen) == 45 == len(set(seen))


def test_page_size_up_to_two_hundred_is_accepted(api: APIClient, owner: User) -> None:
    bulk_tasks(owner, 205)

    body = api.get("/api/v1/tasks/", {"page_size": 200}).json()

    assert len(body["results"]) == 200 and body["count"] == 205
    assert "page_size=200" in body["next"]


def test_page_size_out_of_range_is_a_400(api: APIClient, owner: User) -> None:
    for size in ("201", "0", "-1", "ten"):
        response = api.get("/api/v1/tasks/", {"page_size": size})
        assert response.status_code == 400, size
        assert response.json()["page_size"]


def test_a_page_past_the_end_is_a_404(api: APIClient, owner: User) -> None:
    bulk_tasks(owner, 3)

    assert api.get("/api/v1/tasks/", {"page": 2}).status_code == 404
    assert api.get("/api/v1/tasks/", {"page": 1}).status_code == 200
    assert api.get("/api/v1/tasks/", {"page": 0}).status_code == 404
