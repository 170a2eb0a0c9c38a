"""Support staff find series in the admin and end them through the service."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from planning.services import task_create
from recurrence_app.models import RecurringSeries, SeriesStatus
from tasks_app.models import Task
from webapp.events import topics
from webapp.events.models import OutboxEvent

CHANGELIST = "/admin/recurrence_app/recurringseries/"


def test_staff_search_series_and_end_them_with_events(owner: User, staff: Client) -> None:
    task = task_create(
        owner=owner,
        title="Pay rent",
        due_at=timezone.now() + timedelta(days=1),
        recurrence={"rule": "FREQ=MONTHLY", "timezone": "UTC", "anchor": "due"},
    )
    assert task.series_id is not None
    client = staff
    page = client.get(CHANGELIST, {"q": "olivia"})
    assert page.status_code == 200 and b"Pay rent" in page.content
    assert client.get(f"{CHANGELIST}{task.series_id}/change/").status_code == 200

    response = client.post(
        CHANGELIST, {"action": "end_series", "_selected_action": [str(task.series_id)]}
    )
    assert response.status_code == 302
    series = RecurringSeries.objects.get(pk=task.series_id)
    assert series.status == SeriesStatus.DELETED
    assert not Task.objects.filter(pk=task.pk).exists()
    assert OutboxEvent.objects.filter(
        type=topics.SERIES_DELETED, subject=f"series/{series.id}"
    ).exists()
