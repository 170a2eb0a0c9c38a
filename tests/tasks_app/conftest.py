"""Task fixtures built through the real services (events and search vector included)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from recurrence_app.models import RecurringSeries
from tasks_app import services
from tasks_app.models import Priority, Task


def make_task(
    owner: User,
    title: str,
    *,
    priority: str = "medium",
    completed: bool = False,
    **fields: Any,
) -> Task:
    task = services.task_create(
        owner=owner, title=title, priority=Priority.from_name(priority), **fields
    )
    if completed:
        task = services.task_complete(task=task)
    return task


def make_series_instance(owner: User, title: str, *, due_at: datetime, **fields: Any) -> Task:
    """A series and one instance written with the ORM, independent of the recurrence engine."""
    with transaction.atomic():
        series = RecurringSeries.objects.create(
            owner=owner, title=title, rule="FREQ=DAILY", timezone="UTC", dtstart=due_at
        )
        return Task.objects.create(
            owner=owner, title=title, series=series, occurrence=due_at, due_at=due_at, **fields
        )


@pytest.fixture
def now() -> datetime:
    return timezone.now()


@pytest.fixture
def catalogue(owner: User, now: datetime) -> dict[str, Task]:
    """Six tasks that differ in every filterable attribute."""
    day = timedelta(days=1)
    return {
        "rent": make_task(
            owner, "Pay rent", priority="high", tags=["home", "bills"], due_at=now - day
        ),
        "groceries": make_task(owner, "Buy groceries", tags=["home", "food"], due_at=now + 3 * day),
        "report": make_task(
            owner,
            "Write report",
            priority="urgent",
            tags=["work"],
            due_at=now - 2 * day,
            completed=True,
        ),
        "book": make_task(owner, "Read a book", priority="low"),
        "standup": make_series_instance(
            owner, "Daily standup", due_at=now + day, tags=["work", "daily"]
        ),
        "taxes": make_task(
            owner, "File taxes", priority="high", tags=["bills"], due_at=now + 10 * day
        ),
    }
