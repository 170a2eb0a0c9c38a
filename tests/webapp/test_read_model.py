"""ReadModelSerializer's direct reads give exactly what DRF's own field walk gives."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from rest_framework import serializers

from notifications_app.models import Reminder
from notifications_app.serializers import ReminderSerializer
from planning.serializers import TaskSerializer
from tasks_app.models import Task
from tests.conftest import client_for, create_task
from webapp.api.serializers import ReadModelSerializer


def drf_representation(serializer: ReadModelSerializer[Any], instance: Any) -> Any:
    """DRF's Serializer.to_representation, field by field, as before the direct reads."""
    return serializers.ModelSerializer.to_representation(serializer, instance)


def test_tasks_of_every_shape_render_as_drf_renders_them(owner: User) -> None:
    api = client_for(owner)
    create_task(api, title="Bare")
    create_task(
        api,
        title="Full",
        description="with everything",
        priority="urgent",
        tags=["home", "bills"],
        due_at="2031-03-30T01:30:00.123456+02:00",
        reminders=[{"before": "PT15M"}, {"at": "2031-03-29T08:00:00Z", "channels": ["email"]}],
    )
    recurring = create_task(
        api,
        title="Standup",
        due_at="2031-01-06T09:00:00Z",
        recurrence={"rule": "FREQ=DAILY", "timezone": "Europe/Berlin"},
    )
    done = create_task(api, title="Done")
    assert api.post(f"/api/v1/tasks/{done['id']}/complete/").status_code == 200

    tasks = list(Task.objects.filter(owner=owner).order_by("created_at"))
    serializer = TaskSerializer()
    shapes = [serializer.to_representation(task) for task in tasks]

    assert shapes == [drf_representation(TaskSerializer(), task) for task in tasks]
    assert {shape["title"] for shape in shapes} == {"Bare", "Full", "Standup", "Done"}
    standup = next(shape for shape in shapes if shape["id"] == recurring["id"])
    assert standup["series"] is not None and standup["occurrence"] is not None


def test_reminders_render_as_drf_renders_them(owner: User) -> None:
    create_task(
        client_for(owner),
        title="Reminded",
        due_at="2031-03-30T09:00:00Z",
        reminders=[{"before": "P1DT2H"}, {"at": "2031-03-29T08:00:00Z", "channels": ["push"]}],
    )
    reminders = list(Reminder.objects.order_by("created_at"))
    assert len(reminders) == 2

    assert [ReminderSerializer().to_representation(r) for r in reminders] == [
        drf_representation(ReminderSerializer(), r) for r in reminders
    ]
