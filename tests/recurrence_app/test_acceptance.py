"""The acceptance scenarios of recurring tasks, through the API with the inline runtime."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from rest_framework.test import APIClient

from recurrence_app.materialise import jitter
from recurrence_app.models import SeriesStatus
from tasks_app.models import Status, Task
from tests.recurrence_app.conftest import (
    create_recurring,
    events_of,
    instances,
    job_of,
    series_of,
)
from webapp.events import topics
from webapp.events.models import OutboxEvent
from webapp.events.runtimes.inline import InlineRuntime, deliver_to_subscribers

TODAY_9 = datetime(2026, 3, 2, 8, tzinfo=UTC)  # Monday 09:00 in Berlin


def test_completing_todays_exercise_makes_tomorrows_appear(api: APIClient) -> None:
    with time_machine.travel(TODAY_9 - timedelta(hours=2), tick=False):
        until = (TODAY_9 + timedelta(days=30)).strftime("%Y%m%dT%H%M%SZ")
        first = create_recurring(
            api,
            title="Exercise",
            due_at="2026-03-02T09:00:00+01:00",
            rule=f"FREQ=DAILY;UNTIL={until}",
            timezone="Europe/Berlin",
        )
        assert first["series"] and first["due_at"] == "2026-03-02T08:00:00Z"
        assert len(instances(first["series"])) == 1

    with time_machine.travel(TODAY_9 + timedelta(hours=3), tick=False):
        response = api.post(f"/api/v1/tasks/{first['id']}/complete/")
        assert response.status_code == 200

    tasks = instances(first["series"])
    assert [(t.status, t.due_at) for t in tasks] == [
        (Status.COMPLETED, TODAY_9),
        (Status.PENDING, TODAY_9 + timedelta(days=1)),
    ]
    tomorrow = tasks[1]
    assert tomorrow.title == "Exercise" and tomorrow.occurrence == tomorrow.due_at
    shown = api.get(f"/api/v1/tasks/{tomorrow.id}/").json()
    assert shown["status"] == "pending" and shown["due_at"] == "2026-03-03T08:00:00Z"
    assert len(events_of(topics.TASK_CREATED, f"tasks/{tomorrow.id}")) == 1
    # The job moved past tomorrow: it will bring the day after at its time.
    job = job_of(first["series"])
    assert job is not None and job.due_at == TODAY_9 + timedelta(days=2)


def test_mon_wed_fri_instances_appear_at_0945_local(
    api: APIClient, inline_runtime: InlineRuntime
) -> None:
    monday_10 = datetime(2026, 1, 5, 9, tzinfo=UTC)  # 10:00 Berlin (CET)
    with time_machine.travel(monday_10 - timedelta(days=1), tick=False):
        first = create_recurring(
            api,
            title="Team standup",
            due_at=monday_10.isoformat(),
            rule="FREQ=WEEKLY;BYDAY=MO,WE,FR",
            timezone="Europe/Berlin",
            lead_time="PT15M",
        )
    series = series_of(first)
    offset = jitter(series.id, timedelta(minutes=15))
    assert timedelta(0) <= offset < timedelta(minutes=1)
    for day in (7, 9, 12):
        due = datetime(2026, 1, day, 9, tzinfo=UTC)
        appears = due - timedelta(minutes=15)  # 09:45 local
        with time_machine.travel(appears - timedelta(seconds=1), tick=False):
            inline_runtime.fire_due_jobs()
            assert not Task.objects.filter(series=series, occurrence=due).exists()
        with time_machine.travel(appears + offset, tick=False):
            assert inline_runtime.fire_due_jobs() == [f"series-{series.id}"]
        task = Task.objects.get(series=series, occurrence=due)
        assert task.status == Status.PENDING and task.due_at == due
    local = [t.due_at.isoformat() for t in instances(series.id) if t.due_at]
    assert local == [
        "2026-01-05T09:00:00+00:00",
        "2026-01-07T09:00:00+00:00",
        "2026-01-09T09:00:00+00:00",
        "2026-01-12T09:00:00+00:00",
    ]


def test_editing_one_occurrence_leaves_later_ones_unchanged(api: APIClient) -> None:
    with time_machine.travel(TODAY_9 - timedelta(hours=1), tick=False):
        first = create_recurring(
            api, title="Water plants", due_at=TODAY_9.isoformat(), rule="FREQ=DAILY"
        )
        api.post(f"/api/v1/tasks/{first['id']}/complete/")
        second = instances(first["series"])[1]
        edited = api.patch(f"/api/v1/tasks/{second.id}/", {"title": "Water cactus"}, format="json")
        assert edited.status_code == 200
        assert edited.json()["is_exception"] is True
        api.post(f"/api/v1/tasks/{second.id}/complete/")
        third = instances(first["series"])[2]
        assert third.title == "Water plants"
        # A later series edit reaches pending unedited instances, not the edited one.
        renamed = api.patch(
            f"/api/v1/series/{first['series']}/", {"title": "Water all plants"}, format="json"
        )
        assert renamed.status_code == 200
    titles = [t.title for t in instances(first["series"])]
    assert titles == ["Water plants", "Water cactus", "Water all plants"]


def test_deleting_the_series_keeps_completed_and_removes_pending(api: APIClient) -> None:
    with time_machine.travel(TODAY_9 - timedelta(hours=1), tick=False):
        first = create_recurring(
            api, title="Stretch", due_at=TODAY_9.isoformat(), rule="FREQ=DAILY"
        )
        api.post(f"/api/v1/tasks/{first['id']}/complete/")
        pending = instances(first["series"])[1]
        assert job_of(first["series"]) is not None
        response = api.delete(f"/api/v1/series/{first['series']}/")
        assert response.status_code == 204
    remaining = instances(first["series"])
    assert [str(t.id) for t in remaining] == [first["id"]]
    assert remaining[0].status == Status.COMPLETED
    assert not Task.objects.filter(pk=pending.id).exists()
    assert len(events_of(topics.TASK_DELETED, f"tasks/{pending.id}")) == 1
    assert job_of(first["series"]) is None
    assert series_of(first).status == SeriesStatus.DELETED
    assert api.get(f"/api/v1/series/{first['series']}/").status_code == 404


def test_completing_the_final_instance_ends_the_series(
    api: APIClient, inline_runtime: InlineRuntime
) -> None:
    with time_machine.travel(TODAY_9 - timedelta(hours=1), tick=False):
        first = create_recurring(
            api, title="Course", due_at=TODAY_9.isoformat(), rule="FREQ=DAILY;COUNT=2"
        )
        api.post(f"/api/v1/tasks/{first['id']}/complete/")
        last = instances(first["series"])[1]
        assert job_of(first["series"]) is None  # nothing left for the job
        api.post(f"/api/v1/tasks/{last.id}/complete/")
    with time_machine.travel(TODAY_9 + timedelta(days=5), tick=False):
        inline_runtime.fire_due_jobs()
    assert len(instances(first["series"])) == 2
    assert series_of(first).status == SeriesStatus.COMPLETED
    shown = api.get(f"/api/v1/series/{first['series']}/").json()
    assert shown["status"] == "completed"
    updates = events_of(topics.SERIES_UPDATED, f"series/{first['series']}")
    assert updates[-1].envelope["data"]["changes"] == {
        "status": {"old": "active", "new": "completed"}
    }


def test_a_duplicated_completion_event_creates_one_next_instance(api: APIClient) -> None:
    with time_machine.travel(TODAY_9 - timedelta(hours=1), tick=False):
        first = create_recurring(api, title="Read", due_at=TODAY_9.isoformat(), rule="FREQ=DAILY")
        api.post(f"/api/v1/tasks/{first['id']}/complete/")
        completed = OutboxEvent.objects.get(
            type=topics.TASK_COMPLETED, subject=f"tasks/{first['id']}"
        )
        # The broker delivers the same event again, and once more under a new id (a
        # re-publish): the guard drops the first, the unique occurrence the second.
        deliver_to_subscribers(completed)
        completed.envelope["id"] = "00000000-0000-4000-8000-000000000001"
        deliver_to_subscribers(completed)
    tasks = instances(first["series"])
    assert len(tasks) == 2
    assert len(events_of(topics.TASK_CREATED, f"tasks/{tasks[1].id}")) == 1
