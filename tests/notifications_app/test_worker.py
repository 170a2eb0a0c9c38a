"""The notifications worker's Dapr app, driven as daprd drives it, against the fake sidecar:
task events in, ScheduleJob/DeleteJob out to the Scheduler, OnJobEvent fires a delivery."""

from __future__ import annotations

import asyncio
import gc
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connections
from django.utils import timezone

from notifications_app.delivery import stop_threads
from notifications_app.handlers import APP_ID
from notifications_app.models import Notification, ReminderStatus
from tasks_app.models import Task
from tasks_app.services import task_complete, task_update
from tests.conftest import wait_until
from tests.fakes.dapr_sidecar import AppDriver, FakeDaprSidecar
from tests.notifications_app.conftest import SmtpServer, reminders_of, task_with_reminders
from webapp.events.envelope import rfc3339
from webapp.events.models import OutboxEvent
from webapp.events.runtime import get_runtime, set_runtime
from webapp.events.runtimes.dapr import DaprRuntime
from webapp.events.worker import build_app


@pytest.fixture
def worker(
    dapr_sidecar: FakeDaprSidecar, app_driver: Callable[[Any], AppDriver]
) -> Iterator[AppDriver]:
    """The worker's app served on a port; its Dapr runtime talks to the fake sidecar.

    The relay is left off: the test hands each event to the app itself, as daprd would.
    """
    runtime = DaprRuntime(autostart=False)
    set_runtime(runtime)
    yield app_driver(build_app(APP_ID))
    runtime.stop()


def _deliver_latest(driver: AppDriver, task: Task) -> str:
    """Hand the task's newest event to the worker on its topic; returns daprd's status."""
    row = OutboxEvent.objects.filter(subject=f"tasks/{task.pk}").order_by("-sequence").first()
    assert row is not None
    return driver.deliver(row.envelope, topic=row.topic)


def test_it_subscribes_to_both_task_topics_with_dead_letter_topics(worker: AppDriver) -> None:
    listed = worker.list_subscriptions()
    # The SDK lists each dead-letter topic as a subscription of its own as well.
    subscriptions = {s["topic"]: s for s in listed if not s["topic"].endswith("-dlq")}
    assert set(subscriptions) == {"task-operations", "task-modifications"}
    assert subscriptions["task-operations"]["deadLetterTopic"] == "task-operations-dlq"
    assert subscriptions["task-modifications"]["deadLetterTopic"] == "task-modifications-dlq"
    assert {s["pubsubName"] for s in subscriptions.values()} == {"pubsub"}


def test_task_events_schedule_move_and_delete_reminder_jobs_in_the_scheduler(
    worker: AppDriver, dapr_sidecar: FakeDaprSidecar, owner: User
) -> None:
    due = timezone.now().replace(microsecond=0) + timedelta(days=2)
    task = task_with_reminders(owner, due_at=due, reminders=[{"before": timedelta(hours=1)}])
    [reminder] = reminders_of(task)
    name = f"reminder-{reminder.pk}"

    assert _deliver_latest(worker, task) == "success"
    [job] = dapr_sidecar.scheduled
    assert (job.name, job.due_time, job.overwrite) == (
        name,
        rfc3339(due - timedelta(hours=1)),
        True,
    )
    assert job.payload["reminder_id"] == str(reminder.pk)

    task_update(task=task, changes={"due_at": due + timedelta(days=1)})
    assert _deliver_latest(worker, task) == "success"
    assert dapr_sidecar.jobs[name].due_time == rfc3339(due + timedelta(days=1, hours=-1))

    task_complete(task=task)
    assert _deliver_latest(worker, task) == "success"
    assert dapr_sidecar.deleted_jobs == [name]
    assert name not in dapr_sidecar.jobs
    assert reminders_of(task)[0].status == ReminderStatus.CANCELLED


def test_on_job_event_fires_the_delivery_once_and_publishes_its_events(
    worker: AppDriver, dapr_sidecar: FakeDaprSidecar, owner: User
) -> None:
    due = timezone.now() + timedelta(seconds=30)
    task = task_with_reminders(
        owner, due_at=due, reminders=[{"before": timedelta(0), "channels": ["in_app"]}]
    )
    assert _deliver_latest(worker, task) == "success"
    [job] = dapr_sidecar.scheduled

    worker.fire_job(job.name, job.data)
    worker.fire_job(job.name, job.data, alpha=True)  # a repeated trigger, as before daprd 1.18

    [row] = Notification.objects.filter(task=task)
    assert (row.channel, row.status) == ("in_app", "sent")
    assert reminders_of(task)[0].status == ReminderStatus.SENT
    runtime = get_runtime()  # the worker's, installed by the fixture
    assert isinstance(runtime, DaprRuntime)
    assert runtime.relay_once()
    alerts = [p.data for p in dapr_sidecar.published_to("alerts")]
    assert [event["type"] for event in alerts] == [
        "todo.reminder.fired.v1",
        "todo.notification.sent.v1",
    ]
    assert alerts[1]["data"]["notification"]["id"] == row.pk


def test_the_command_serves_the_notifications_app_id(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("webapp.events.worker.run_worker", lambda **kw: calls.append(kw))

    call_command("run_notifications_worker", "--port", "50061", "--http-port", "9191")

    assert calls == [{"app_id": "notifications", "grpc_port": 50061, "http_port": 9191}]


@pytest.fixture
def sending_threads() -> Iterator[None]:
    yield
    stop_threads()
    gc.collect()  # the ended threads' database connections close with them
    connections.close_all()


def test_a_job_call_returns_once_the_claim_commits_while_the_email_is_still_on_its_way(
    worker: AppDriver,
    dapr_sidecar: FakeDaprSidecar,
    owner: User,
    smtp_server: SmtpServer,
    sending_threads: None,
) -> None:
    released = threading.Event()
    accept = smtp_server.inbox.handle_DATA

    async def held(server: Any, session: Any, envelope: Any) -> str:
        # A slow mail server: it takes the message only once the test lets it.
        await asyncio.get_running_loop().run_in_executor(None, released.wait, 30)
        return await accept(server, session, envelope)

    smtp_server.inbox.handle_DATA = held  # type: ignore[method-assign]
    task = task_with_reminders(
        owner,
        due_at=timezone.now() + timedelta(seconds=30),
        reminders=[{"before": timedelta(0), "channels": ["email"]}],
    )
    assert _deliver_latest(worker, task) == "success"
    [job] = dapr_sidecar.scheduled

    worker.fire_job(job.name, job.data)  # answered while the SMTP server still holds the email

    email = Notification.objects.get(task=task)
    assert email.status == "pending"
    check = f"notification-check-{email.lease_token}"
    assert check in {scheduled.name for scheduled in dapr_sidecar.scheduled}
    released.set()
    # The reminder settles last, once its notifications are recorded.
    wait_until(lambda: reminders_of(task)[0].status == ReminderStatus.SENT)
    assert Notification.objects.get(pk=email.pk).status == "sent"
    assert len(smtp_server.messages) == 1
