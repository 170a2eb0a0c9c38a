"""Reminder jobs, owned by the notifications worker and driven by task events only.

Design: the worker reads the task's current reminders (not the event's copy, so events that
arrive late or twice do no harm) and brings its jobs in line:

- one job per reminder, named `reminder-<id>`, due at the reminder's fire time, replaced when
  the time moves (overwrite semantics) and deleted when it no longer should fire;
- `ReminderJob` rows remember which jobs exist per task. They have no foreign keys, because a
  deleted task takes its reminders with it and the deleted-event consumer still has to cancel
  their jobs;
- a fire time already past (more than NOTIFICATION_LATE_GRACE_SECONDS) when scheduling is
  marked `skipped` instead of being sent late.

Each function runs inside the caller's transaction (the consumer guard's), so the job table,
the reminders and the processed-event mark commit together.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from notifications_app.models import Reminder, ReminderJob, ReminderStatus, reminder_job_name
from notifications_app.services import reminder_fire_at
from tasks_app.models import Status, Task
from webapp.events import jobs

logger = logging.getLogger(__name__)


def _schedule(reminder: Reminder, due_at: datetime, known: ReminderJob | None) -> None:
    name = reminder_job_name(reminder.pk)
    if known is not None and known.due_at == due_at:
        return
    jobs.schedule(
        name=name,
        due_at=due_at,
        data={
            "reminder_id": str(reminder.pk),
            "task_id": str(reminder.task_id),
            "fire_at": due_at.isoformat(),
        },
    )
    ReminderJob.objects.update_or_create(
        name=name,
        defaults={"task_id": reminder.task_id, "reminder_id": reminder.pk, "due_at": due_at},
    )


def _cancel(job: ReminderJob) -> None:
    jobs.cancel(name=job.name)
    job.delete()


def reminders_schedule(*, task_id: uuid.UUID | str, reopened: bool = False) -> int:
    """Bring the task's reminder jobs in line with its reminders; returns jobs now scheduled.

    Called for created, updated and reopened tasks. A reminder is (re)armed when it is still
    waiting to fire, when its fire time moved (a new due date makes "1 hour before" fire again), or
    when the task was reopened and its cancelled reminder lies in the future.
    """
    known = {
        job.reminder_id: job
        for job in ReminderJob.objects.select_for_update().filter(task_id=task_id)
    }
    task = Task.objects.select_for_update().filter(pk=task_id).first()
    if task is None or task.status == Status.COMPLETED:
        for stale in known.values():
            _cancel(stale)
        Reminder.objects.filter(task_id=task_id, status=ReminderStatus.SCHEDULED).update(
            status=ReminderStatus.CANCELLED, updated_at=timezone.now()
        )
        return 0
    now = timezone.now()
    late = now - timedelta(seconds=settings.NOTIFICATION_LATE_GRACE_SECONDS)
    scheduled = 0
    for reminder in Reminder.objects.select_for_update().filter(task=task):
        job = known.pop(reminder.pk) if reminder.pk in known else None
        fire_at = reminder_fire_at(before=reminder.before, at=reminder.at, due_at=task.due_at)
        moved = fire_at != reminder.fire_at
        # Claimed but still being delivered (fired_at set, status not yet settled) counts as
        # fired: an edit that does not move it must not send it a second time.
        waiting = reminder.status == ReminderStatus.SCHEDULED and reminder.fired_at is None
        rearm = waiting or moved or (reopened and reminder.status == ReminderStatus.CANCELLED)
        update: dict[str, object] = {}
        if fire_at is None or not rearm or fire_at < late:
            if job is not None:
                _cancel(job)
            if rearm:
                # No due date any more, or a time that passed before we could schedule it.
                update = {
                    "fire_at": fire_at,
                    "status": ReminderStatus.CANCELLED
                    if fire_at is None
                    else ReminderStatus.SKIPPED,
                }
        else:
            _schedule(reminder, fire_at, job)
            scheduled += 1
            update = {"fire_at": fire_at, "status": ReminderStatus.SCHEDULED, "fired_at": None}
        changed = {k: v for k, v in update.items() if getattr(reminder, k) != v}
        if changed:
            for field, value in changed.items():
                setattr(reminder, field, value)
            reminder.save(update_fields=[*changed, "updated_at"])
    for removed in known.values():  # reminders taken off the task
        _cancel(removed)
    return scheduled


def reminders_cancel(*, task_id: uuid.UUID | str) -> int:
    """Delete every pending reminder job of a completed or deleted task; returns how many."""
    known = list(ReminderJob.objects.select_for_update().filter(task_id=task_id))
    for job in known:
        _cancel(job)
    Reminder.objects.filter(task_id=task_id, status=ReminderStatus.SCHEDULED).update(
        status=ReminderStatus.CANCELLED, updated_at=timezone.now()
    )
    return len(known)


def reminder_jobs_done(*, names: Iterable[str]) -> None:
    """The jobs fired: the scheduler no longer holds them."""
    ReminderJob.objects.filter(name__in=list(names)).delete()


def reminder_jobs_reschedule_all(*, batch_size: int = 500) -> int:
    """Schedule again every job of a reminder still waiting to fire (after restoring the
    Scheduler's state, or moving between runtimes); returns how many jobs were sent.
    """
    late = timezone.now() - timedelta(seconds=settings.NOTIFICATION_LATE_GRACE_SECONDS)
    waiting = (
        Reminder.objects.filter(
            status=ReminderStatus.SCHEDULED, fired_at__isnull=True, fire_at__gte=late
        )
        .filter(Q(task__status=Status.PENDING))
        .order_by("fire_at", "id")
    )
    count = 0
    for reminder in waiting.iterator(chunk_size=batch_size):
        if reminder.fire_at is None:  # excluded by the filter; keeps the type checker honest
            continue
        with transaction.atomic():
            _schedule(reminder, reminder.fire_at, None)
        count += 1
    return count
