"""Support staff browse, search and filter tasks in the Django admin; edits go through services."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from tasks_app.models import Task
from tests.tasks_app.conftest import make_task
from webapp.events.models import OutboxEvent

CHANGELIST = "/admin/tasks_app/task/"


@pytest.fixture
def tasks(owner: User, outsider: User) -> dict[str, Task]:
    now = timezone.now()
    return {
        "rent": make_task(owner, "Pay rent", priority="high", due_at=now + timedelta(hours=2)),
        "gym": make_task(owner, "Gym", completed=True),
        "boat": make_task(outsider, "Paint boat", priority="low", due_at=now - timedelta(days=30)),
    }


def shown(client: Client, params: dict[str, str]) -> set[str]:
    response = client.get(CHANGELIST, params)
    assert response.status_code == 200
    return {task.title for task in response.context["cl"].result_list}


def test_staff_can_load_the_changelist(staff: Client, tasks: dict[str, Task]) -> None:
    assert shown(staff, {}) == {"Pay rent", "Gym", "Paint boat"}


def test_search_covers_title_owner_username_and_email(
    staff: Client, tasks: dict[str, Task]
) -> None:
    assert shown(staff, {"q": "rent"}) == {"Pay rent"}
    assert shown(staff, {"q": "oscar"}) == {"Paint boat"}
    assert shown(staff, {"q": "olivia@example.com"}) == {"Pay rent", "Gym"}


def test_filters_by_owner_status_priority_and_due_date(
    staff: Client, tasks: dict[str, Task], owner: User
) -> None:
    assert shown(staff, {"owner__id__exact": str(owner.pk)}) == {"Pay rent", "Gym"}
    assert shown(staff, {"status__exact": "completed"}) == {"Gym"}
    assert shown(staff, {"priority__exact": "1"}) == {"Paint boat"}
    # The parameters the "Next 7 days" link of the due-date filter sends.
    today = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    week = {
        "due_at__gte": str(today),
        "due_at__lt": str(today + timedelta(days=7)),
    }
    assert "Pay rent" in shown(staff, week) and "Paint boat" not in shown(staff, week)
    assert shown(staff, {"due_at__isnull": "True"}) == {"Gym"}


def test_change_form_hides_the_search_vector_and_locks_timestamps(
    staff: Client, tasks: dict[str, Task]
) -> None:
    response = staff.get(f"{CHANGELIST}{tasks['rent'].pk}/change/")

    assert response.status_code == 200
    form_fields = set(response.context["adminform"].form.fields)
    assert "search_vector" not in form_fields
    assert not {"created_at", "updated_at", "status", "completed_at"} & form_fields
    assert {"title", "priority", "tags", "due_at"} <= form_fields


def test_an_edit_in_the_admin_emits_an_updated_event(staff: Client, tasks: dict[str, Task]) -> None:
    task = tasks["rent"]
    response = staff.post(
        f"{CHANGELIST}{task.pk}/change/",
        {
            "title": "Pay rent today",
            "description": "",
            "priority": "4",
            "tags": "home, Bills",
            "due_at_0": "",
            "due_at_1": "",
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    task.refresh_from_db()
    assert task.title == "Pay rent today" and task.tags == ["home", "bills"]
    assert task.due_at is None
    event = OutboxEvent.objects.filter(type="todo.task.updated.v1").get()
    assert set(event.envelope["data"]["changes"]) == {"title", "priority", "tags", "due_at"}


def test_an_invalid_tag_in_the_admin_is_a_form_error(staff: Client, tasks: dict[str, Task]) -> None:
    task = tasks["rent"]
    response = staff.post(
        f"{CHANGELIST}{task.pk}/change/",
        {"title": "x", "description": "", "priority": "2", "tags": "not ok"},
    )

    assert response.status_code == 200
    assert "Invalid tag" in str(response.context["adminform"].form.errors["tags"])


def test_the_complete_action_uses_the_service(staff: Client, tasks: dict[str, Task]) -> None:
    response = staff.post(
        CHANGELIST,
        {"action": "complete_tasks", "_selected_action": [str(tasks["rent"].pk)]},
    )

    assert response.status_code == 302
    assert Task.objects.get(pk=tasks["rent"].pk).status == "completed"
    assert OutboxEvent.objects.filter(type="todo.task.completed.v1").count() == 2  # gym + rent


def test_non_staff_users_are_sent_to_the_login_page(tasks: dict[str, Task], owner: User) -> None:
    client = Client()
    client.force_login(owner)

    response = client.get(CHANGELIST)

    assert response.status_code == 302 and "/admin/login/" in response["Location"]
