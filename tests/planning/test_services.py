"""Composite writes: a task with its recurrence and reminders is written whole or not at all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from notifications_app.models import Reminder
from planning.services import task_create
from recurrence_app.models import RecurringSeries
from tasks_app.models import Task
from webapp.events.models import OutboxEvent

NOW = datetime(2030, 1, 1, 12, tzinfo=UTC)
RECURRENCE = {"rule": "FREQ=DAILY", "timezone": "UTC", "anchor": "due"}


def test_a_refused_reminder_leaves_no_task_no_series_and_no_event(owner: User) -> None:
    with time_machine.travel(NOW, tick=False), pytest.raises(ValidationError) as refused:
        task_create(
            owner=owner,
            title="Standup",
            due_at=NOW + timedelta(days=1),
            recurrence=RECURRENCE,
            reminders=[{"at": NOW - timedelta(hours=1)}],
        )

    assert refused.value.message_dict == {"reminders": ["Reminder 1: that time is in the past."]}
    assert not Task.objects.exists() and not RecurringSeries.objects.exists()
    assert not OutboxEvent.objects.exists()


def test_a_recurring_task_is_made_with_its_series_templates_and_reminders(owner: User) -> None:
    with time_machine.travel(NOW, tick=False):
        task = task_create(
            owner=owner,
            title="Standup",
            due_at=NOW + timedelta(days=1),
            recurrence=RECURRENCE,
            reminders=[{"before": timedelta(minutes=10)}, {"at": NOW + timedelta(hours=1)}],
        )

    series = RecurringSeries.objects.get()
    assert task.series_id == series.pk
    # Only the relative reminder is a template; the task has both.
    assert series.reminder_templates == [{"before": "PT10M"}]
    assert Reminder.objects.filter(task=task).count() == 2
    assert [event.type for event in OutboxEvent.objects.order_by("sequence")] == [
        "todo.series.created.v1",
        "todo.task.created.v1",
    ]


def test_a_recurring_task_without_a_due_date_is_refused_in_one_shape(owner: User) -> None:
    with pytest.raises(ValidationError) as refused:
        task_create(owner=owner, title="Standup", recurrence=RECURRENCE)

    assert refused.value.message_dict == {"due_at": ["A recurring task needs a due date."]}
