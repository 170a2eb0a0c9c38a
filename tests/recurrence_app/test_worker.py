"""The recurrence worker's Dapr app, driven as daprd drives it, against the fake sidecar:
task and series events in, ScheduleJob out to the Scheduler, OnJobEvent materialises."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User

from planning.services import task_create
from recurrence_app.handlers import APP_ID
from recurrence_app.models import RecurringSeries
from tasks_app.models import Status, Task
from tasks_app.services import task_complete
from tests.fakes.dapr_sidecar import AppDriver, FakeDaprSidecar
from webapp.events import topics
from webapp.events.envelope import rfc3339
from webapp.events.models import OutboxEvent
from webapp.events.runtime import set_runtime
from webapp.events.runtimes.dapr import DaprRuntime
from webapp.events.worker import build_app

DUE = datetime(2027, 3, 1, 8, tzinfo=UTC)  # Monday 09:00 in Berlin


@pytest.fixture
def worker(
    dapr_sidecar: FakeDaprSidecar, app_driver: Callable[[Any], AppDriver]
) -> Iterator[AppDriver]:
    """The worker's app on a port; its Dapr runtime talks to the fake sidecar. The relay is
    off: the test hands each event to the app itself, as daprd would."""
    runtime = DaprRuntime(autostart=False)
    set_runtime(runtime)
    yield app_driver(build_app(APP_ID))
    runtime.stop()


def _deliver(driver: AppDriver, event_type: str, subject: str) -> str:
    row = OutboxEvent.objects.filter(type=event_type, subject=subject).order_by("-sequence").first()
    assert row is not None
    return driver.deliver(row.envelope, topic=row.topic)


def test_it_subscribes_to_the_task_topics_with_dead_letter_topics(worker: AppDriver) -> None:
    subscriptions = {s["topic"]: s for s in worker.list_subscriptions()}
    assert {"task-operations", "task-modifications"} <= set(subscriptions)
    assert subscriptions["task-operations"]["deadLetterTopic"] == "task-operations-dlq"
    assert subscriptions["task-modifications"]["deadLetterTopic"] == "task-modifications-dlq"
    # The alerts topic is not the recurrence worker's business.
    assert "alerts" not in subscriptions


def test_events_and_jobs_drive_the_series_through_the_sidecar(
    worker: AppDriver, dapr_sidecar: FakeDaprSidecar, owner: User
) -> None:
    with time_machine.travel(DUE - timedelta(hours=2), tick=False):
        first = task_create(
            owner=owner,
            title="Standup",
            due_at=DUE,
            recurrence={
                "rule": "FREQ=WEEKLY;BYDAY=MO,WE,FR",
                "timezone": "Europe/Berlin",
                "anchor": "due",
                "lead_time": timedelta(0),
            },
        )
        series_id = first.series_id
        assert series_id is not None
        name = f"series-{series_id}"
        assert dapr_sidecar.scheduled == []  # the web side schedules nothing itself

        # series.created reaches the worker: it schedules the job in the Scheduler.
        assert _deliver(worker, topics.SERIES_CREATED, f"series/{series_id}") == "success"
        [job] = dapr_sidecar.scheduled
        wednesday = DUE + timedelta(days=2)
        assert (job.name, job.due_time, job.overwrite) == (name, rfc3339(wednesday), True)
        assert job.payload == {"series": str(series_id), "due_at": wednesday.isoformat()}

    with time_machine.travel(DUE + timedelta(hours=1), tick=False):
        # Monday's is done: the completed event creates Wednesday's at once and moves the job.
        task_complete(task=first)
        status = _deliver(worker, topics.TASK_COMPLETED, f"tasks/{first.id}")
        assert status == "success"
        wednesday_task = Task.objects.get(series_id=series_id, occurrence=wednesday)
        assert wednesday_task.status == Status.PENDING
        friday = DUE + timedelta(days=4)
        assert dapr_sidecar.jobs[name].due_time == rfc3339(friday)
        # The same event again (daprd redelivers): nothing more.
        assert _deliver(worker, topics.TASK_COMPLETED, f"tasks/{first.id}") == "success"
        assert Task.objects.filter(series_id=series_id).count() == 2

    with time_machine.travel(friday, tick=False):
        # The Scheduler fires the job: Friday's instance appears, the job moves to Monday.
        worker.fire_job(name, dapr_sidecar.jobs[name].data)
    friday_task = Task.objects.get(series_id=series_id, occurrence=friday)
    assert friday_task.due_at == friday and friday_task.title == "Standup"
    assert OutboxEvent.objects.filter(
        type=topics.TASK_CREATED, subject=f"tasks/{friday_task.id}"
    ).exists()
    next_monday = DUE + timedelta(days=7)
    assert dapr_sidecar.jobs[name].due_time == rfc3339(next_monday)
    assert RecurringSeries.objects.get(pk=series_id).next_occurrence == next_monday


def test_series_deleted_event_deletes_the_job(
    worker: AppDriver, dapr_sidecar: FakeDaprSidecar, owner: User
) -> None:
    from recurrence_app.services import series_delete

    with time_machine.travel(DUE - timedelta(hours=2), tick=False):
        first = task_create(
            owner=owner,
            title="Stretch",
            due_at=DUE,
            recurrence={"rule": "FREQ=DAILY", "timezone": "UTC", "anchor": "due"},
        )
        assert first.series_id is not None
        series = RecurringSeries.objects.get(pk=first.series_id)
        assert _deliver(worker, topics.SERIES_CREATED, f"series/{series.id}") == "success"
        series_delete(series=series)
        assert _deliver(worker, topics.SERIES_DELETED, f"series/{series.id}") == "success"
    assert dapr_sidecar.deleted_jobs == [f"series-{series.id}"]
    assert f"series-{series.id}" not in dapr_sidecar.jobs
