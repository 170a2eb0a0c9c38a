"""Reminder jobs over a task's life, with the inline runtime and a moved clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import time_machine
from django.contrib.auth.models import User
from django.db import transaction

from notifications_app.firing import reminders_claim
from notifications_app.handlers import on_reminder_jobs
from notifications_app.models import Notification, ReminderJob, ReminderStatus
from notifications_app.services import notification_settings_update
from tasks_app.models import Task
from tasks_app.services import task_complete, task_delete, task_reopen, task_update
from tests.conftest import client_for
from tests.notifications_app.conftest import reminders_of, task_with_reminders
from webapp.events.models import OutboxEvent, ScheduledJob
from webapp.events.registry import DueJob
from webapp.events.runtimes.inline import InlineRuntime

CREATED = datetime(2031, 1, 10, 8, 0, tzinfo=UTC)
DUE = datetime(2031, 1, 12, 18, 0, tzinfo=UTC)
IN_APP = ["in_app"]


def _jobs() -> dict[str, datetime]:
    return dict(ScheduledJob.objects.values_list("name", "due_at"))


def _feed(owner: User) -> list[UUID | None]:
    rows = Notification.objects.filter(user=owner).order_by("created_at", "id")
    return list(rows.values_list("reminder_id", flat=True))


def test_three_reminders_fire_in_order_each_once(
    owner: User, inline_runtime: InlineRuntime
) -> None:
    with time_machine.travel(CREATED, tick=False):
        task = task_with_reminders(
            owner,
            due_at=DUE,
            reminders=[
                {"before": timedelta(0), "channels": IN_APP},
                {"before": timedelta(days=1), "channels": IN_APP},
                {"before": timedelta(hours=1), "channels": IN_APP},
            ],
        )
    day, hour, due = reminders_of(task)
    assert [r.fire_at for r in (day, hour, due)] == [
        DUE - timedelta(days=1),
        DUE - timedelta(hours=1),
        DUE,
    ]
    assert set(_jobs()) == {f"reminder-{r.pk}" for r in (day, hour, due)}

    fired: list[list[str]] = []
    moments = [DUE - timedelta(days=1), DUE - timedelta(hours=1), DUE, DUE + timedelta(days=1)]
    for moment in moments:
        with time_machine.travel(moment, tick=False):
            fired.append(inline_runtime.fire_due_jobs())
            fired.append(inline_runtime.fire_due_jobs())

    assert fired == [
        [f"reminder-{day.pk}"], [],
        [f"reminder-{hour.pk}"], [],
        [f"reminder-{due.pk}"], [],
        [], [],
    ]  # fmt: skip
    assert _feed(owner) == [day.pk, hour.pk, due.pk]
    assert {r.status for r in reminders_of(task)} == {ReminderStatus.SENT}
    assert not ReminderJob.objects.exists()


def test_completing_the_task_first_cancels_the_reminder_and_deletes_its_job(
    owner: User, inline_runtime: InlineRuntime
) -> None:
    with time_machine.travel(CREATED, tick=False):
        task = task_with_reminders(
            owner, due_at=DUE, reminders=[{"before": timedelta(hours=2), "channels": IN_APP}]
        )
        assert len(_jobs()) == 1
        task_complete(task=task)

    assert _jobs() == {}
    assert not ReminderJob.objects.exists()
    with time_machine.travel(DUE, tick=False):
        assert inline_runtime.fire_due_jobs() == []
    assert not Notification.objects.exists()
    assert reminders_of(task)[0].status == ReminderStatus.CANCELLED


def test_a_job_that_fires_for_a_task_completed_meanwhile_sends_nothing(
    owner: User, inline_runtime: InlineRuntime
) -> None:
    """The fire handler re-checks the task, should a job outlive its cancellation."""
    with time_machine.travel(CREATED, tick=False):
        task = task_with_reminders(
            owner, due_at=DUE, reminders=[{"before": timedelta(0), "channels": IN_APP}]
        )
    [reminder] = reminders_of(task)
    job = ScheduledJob.objects.get()
    task.status, task.completed_at = "completed", CREATED
    task.save(update_fields=["status", "completed_at"])  # bypasses the event on purpose

    on_reminder_jobs([DueJob(job.name, job.data)])

    assert not Notification.objects.exists()
    assert reminders_of(task)[0].status == ReminderStatus.SKIPPED
    assert reminder.pk == reminders_of(task)[0].pk


def test_deleting_the_task_deletes_its_reminder_jobs(
    owner: User, inline_runtime: InlineRuntime
) -> None:
    with time_machine.travel(CREATED, tick=False):
        task = task_with_reminders(
            owner,
            due_at=DUE,
            reminders=[
                {"before": timedelta(hours=1), "channels": IN_APP},
                {"at": DUE - timedelta(days=1), "channels": IN_APP},
            ],
        )
        assert len(_jobs()) == 2
        task_delete(task=task)

    assert _jobs() == {}
    assert not ReminderJob.objects.exists()
    with time_machine.travel(DUE, tick=False):
        assert inline_runtime.fire_due_jobs() == []
    assert not Notification.objects.exists()


def test_moving_the_due_date_moves_every_relative_reminder_but_not_absolute_ones(
    owner: User, inline_runtime: InlineRuntime
) -> None:
    at = DUE - timedelta(days=1, hours=3)
    with time_machine.travel(CREATED, tick=False):
        task = task_with_reminders(
            owner,
            due_at=DUE,
            reminders=[
                {"before": timedelta(hours=1), "channels": IN_APP},
                {"before": timedelta(minutes=10), "channels": IN_APP},
                {"at": at, "channels": IN_APP},
            ],
        )
        absolute, hour, ten = reminders_of(task)
        new_due = DUE + timedelta(days=2)
        task_update(task=task, changes={"due_at": new_due})

    assert _jobs() == {
        f"reminder-{absolute.pk}": at,
        f"reminder-{hour.pk}": new_due - timedelta(hours=1),
        f"reminder-{ten.pk}": new_due - timedelta(minutes=10),
    }
    with time_machine.travel(DUE, tick=False):
        assert inline_runtime.fire_due_jobs() == [f"reminder-{absolute.pk}"]
    with time_machine.travel(new_due, tick=False):
        assert inline_runtime.fire_due_jobs() == [f"reminder-{hour.pk}", f"reminder-{ten.pk}"]
    assert _feed(owner) == [absolute.pk, hour.pk, ten.pk]


def test_removing_the_due_date_cancels_relative_reminders(
    owner: User, inline_runtime: InlineRuntime
) -> None:
    with time_machine.travel(CREATED, tick=False):
        task = task_with_reminders(
            owner, due_at=DUE, reminders=[{"before": timedelta(hours=1), "channels": IN_APP}]
        )
        task_update(task=task, changes={"due_at": None})

    assert _jobs() == {}
    [reminder] = reminders_of(task)
    assert (reminder.status, reminder.fire_at) == (ReminderStatus.CANCELLED, None)


def test_reopening_reschedules_the_reminders_still_ahead(
    owner: User, inline_runtime: InlineRuntime
) -> None:
    with time_machine.travel(CREATED, tick=False):
        task = task_with_reminders(
            owner,
            due_at=DUE,
            reminders=[
                {"before": timedelta(days=2), "channels": IN_APP},  # fires at 18:00 on the 10th
                {"before": timedelta(hours=1), "channels": IN_APP},
            ],
        )
        task_complete(task=task)
    early, late = reminders_of(task)
    assert _jobs() == {}

    with time_machine.travel(DUE - timedelta(days=1), tick=False):  # the early one has passed
        task_reopen(task=task)
        assert _jobs() == {f"reminder-{late.pk}": DUE - timedelta(hours=1)}
    with time_machine.travel(DUE, tick=False):
        assert inline_runtime.fire_due_jobs() == [f"reminder-{late.pk}"]

    statuses = {r.pk: r.status for r in reminders_of(task)}
    # The early one's time passed while the task was done: skipped, never sent late.
    assert statuses == {early.pk: ReminderStatus.SKIPPED, late.pk: ReminderStatus.SENT}
    assert _feed(owner) == [late.pk]


def test_a_duplicated_job_trigger_sends_nothing_twice(
    owner: User, inline_runtime: InlineRuntime
) -> None:
    with time_machine.travel(CREATED, tick=False):
        task = task_with_reminders(
            owner, due_at=DUE, reminders=[{"before": timedelta(0), "channels": IN_APP}]
        )
    job = ScheduledJob.objects.get()

    with time_machine.travel(DUE, tick=False):
        on_reminder_jobs([DueJob(job.name, job.data)])
        # e.g. the Scheduler retrying after a lost answer
        on_reminder_jobs([DueJob(job.name, job.data)])
        assert inline_runtime.fire_due_jobs() == [job.name]  # the real trigger, third time

    assert Notification.objects.count() == 1
    assert OutboxEvent.objects.filter(type="todo.reminder.fired.v1").count() == 1
    assert reminders_of(task)[0].status == ReminderStatus.SENT


def test_a_reminder_whose_time_passed_before_scheduling_is_skipped_not_sent(
    owner: User, inline_runtime: InlineRuntime
) -> None:
    with time_machine.travel(CREATED, tick=False):
        task = task_with_reminders(
            owner,
            due_at=CREATED + timedelta(minutes=30),
            reminders=[
                {"before": timedelta(hours=2), "channels": IN_APP},
                {"before": timedelta(minutes=10), "channels": IN_APP},
            ],
        )
        past, ahead = reminders_of(task)
        assert list(_jobs()) == [f"reminder-{ahead.pk}"]
    assert (past.status, ahead.status) == (ReminderStatus.SKIPPED, ReminderStatus.SCHEDULED)


def test_channels_turned_off_in_settings_are_not_delivered(
    owner: User, inline_runtime: InlineRuntime
) -> None:
    with time_machine.travel(CREATED, tick=False):
        task = task_with_reminders(
            owner,
            due_at=DUE,
            reminders=[{"before": timedelta(0), "channels": ["email", "in_app"]}],
        )
        notification_settings_update(user=owner, changes={"email": False})
    with time_machine.travel(DUE, tick=False):
        inline_runtime.fire_due_jobs()

    assert list(Notification.objects.filter(task=task).values_list("channel", flat=True)) == [
        "in_app"
    ]


def test_the_next_instance_of_a_series_gets_the_templates_relative_reminders(
    owner: User, inline_runtime: InlineRuntime
) -> None:
    with time_machine.travel(CREATED, tick=False):
        api = client_for(owner)  # a token issued at the travelled-to time
        response = api.post(
            "/api/v1/tasks/",
            {
                "title": "Stand-up notes",
                "due_at": DUE.isoformat(),
                "recurrence": {"rule": "FREQ=DAILY;COUNT=3", "timezone": "UTC"},
                "reminders": [
                    {"before": "PT1H", "channels": ["in_app"]},
                    {"at": (DUE - timedelta(hours=5)).isoformat(), "channels": ["in_app"]},
                ],
            },
            format="json",
        )
        assert response.status_code == 201, response.content
        first = response.json()
        assert len(first["reminders"]) == 2
        assert api.post(f"/api/v1/tasks/{first['id']}/complete/").status_code == 200

    following = Task.objects.filter(series_id=first["series"]).exclude(pk=first["id"]).get()
    assert following.due_at == DUE + timedelta(days=1)
    [inherited] = reminders_of(following)
    assert (inherited.before, inherited.at, inherited.channels) == (
        timedelta(hours=1),
        None,
        ["in_app"],
    )
    reminder_jobs = {name: due for name, due in _jobs().items() if name.startswith("reminder-")}
    assert reminder_jobs == {f"reminder-{inherited.pk}": DUE + timedelta(days=1, hours=-1)}
    with time_machine.travel(DUE + timedelta(days=1, hours=-1), tick=False):
        assert f"reminder-{inherited.pk}" in inline_runtime.fire_due_jobs()
    assert _feed(owner) == [inherited.pk]


def test_editing_a_task_while_its_reminder_is_being_delivered_does_not_arm_it_again(
    owner: User, inline_runtime: InlineRuntime
) -> None:
    with time_machine.travel(CREATED, tick=False):
        task = task_with_reminders(
            owner, due_at=DUE, reminders=[{"before": timedelta(0), "channels": ["email"]}]
        )
    job = ScheduledJob.objects.get()

    with time_machine.travel(DUE, tick=False):
        # Claimed, its email not yet settled (SMTP may be retrying for a while)...
        with transaction.atomic():
            lease = reminders_claim([DueJob(job.name, job.data)])
            ScheduledJob.objects.filter(name=job.name).delete()
        assert lease is not None
        [claim] = lease.claims
        # ...when the owner renames the task: the due time did not move, so nothing re-arms.
        task_update(task=task, changes={"title": "Renamed"})

        assert not [name for name in _jobs() if name.startswith("reminder-")]
        [reminder] = reminders_of(task)
        assert reminder.fired_at == DUE
        assert inline_runtime.fire_due_jobs() == []
    assert claim.ids == list(Notification.objects.values_list("pk", flat=True))
