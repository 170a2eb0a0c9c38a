"""Event and job handlers of the notifications worker (Dapr app-id `notifications`).

Imported from the app's ready(), so the embedded `serve` runs them on the local runtime too.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from notifications_app.firing import reminders_fire
from notifications_app.leases import CHECK_JOB_PREFIX, lease_check
from notifications_app.scheduling import reminders_cancel, reminders_schedule
from notifications_app.selectors import task_has_reminders
from notifications_app.services import series_reminders_apply, series_reminders_inherit
from recurrence_app.selectors import series_reminder_templates
from webapp.events import topics
from webapp.events.registry import DueJob, Envelope, job_batch_handler, job_handler, subscriber

logger = logging.getLogger(__name__)

APP_ID = "notifications"


def _task_id(envelope: Envelope) -> str:
    task: dict[str, Any] = envelope["data"]["task"]
    return str(task["id"])


@subscriber(
    consumer="notifications.task_operations",
    app_id=APP_ID,
    topic=topics.TASK_OPERATIONS,
    types=[
        topics.TASK_CREATED,
        topics.TASK_COMPLETED,
        topics.TASK_REOPENED,
        topics.TASK_DELETED,
    ],
)
def on_task_operation(envelope: Envelope) -> None:
    task_id = _task_id(envelope)
    task = envelope["data"]["task"]
    if envelope["type"] == topics.TASK_CREATED and task.get("series"):
        # A series instance inherits its series' reminders: the recurrence app makes the
        # instance, this worker (the reminders' owner) gives it the reminders.
        series_reminders_inherit(
            task_id=task_id, templates=series_reminder_templates(series_id=task["series"])
        )
    if envelope["type"] == topics.TASK_CREATED and not task_has_reminders(task_id=task_id):
        # Most tasks are created without reminders: nothing to schedule, and one small read
        # instead of scheduling's three locking ones.
        return
    if envelope["type"] in {topics.TASK_COMPLETED, topics.TASK_DELETED}:
        reminders_cancel(task_id=task_id)
    else:
        reminders_schedule(task_id=task_id, reopened=envelope["type"] == topics.TASK_REOPENED)


@subscriber(
    consumer="notifications.task_modifications",
    app_id=APP_ID,
    topic=topics.TASK_MODIFICATIONS,
    types=[topics.TASK_UPDATED, topics.SERIES_UPDATED],
)
def on_task_modification(envelope: Envelope) -> None:
    if envelope["type"] == topics.SERIES_UPDATED:
        data = envelope.get("data") or {}
        series_id = (data.get("series") or {}).get("id")
        if series_id and "reminders" in (data.get("changes") or {}):
            # The series' reminder templates changed: its unedited pending instances follow.
            # The series' current templates, not the event's copy, so a late or repeated
            # event does no harm.
            templates = series_reminder_templates(series_id=series_id)
            for task in series_reminders_apply(series_id=series_id, templates=templates):
                reminders_schedule(task_id=task.pk)
        return
    # Any update may move the due date or change the reminders; scheduling reads the task's
    # current state, so re-checking after other edits costs a read and changes nothing.
    reminders_schedule(task_id=_task_id(envelope))


@job_batch_handler(prefix="reminder-", app_id=APP_ID)
def on_reminder_jobs(due: Sequence[DueJob]) -> None:
    reminders_fire(due)


@job_handler(prefix=CHECK_JOB_PREFIX, app_id=APP_ID)
def on_lease_check(job_name: str, data: dict[str, Any]) -> None:
    """Deliveries whose sender stopped before finishing go to this process's senders."""
    taken = lease_check(token=data.get("token") or job_name.removeprefix(CHECK_JOB_PREFIX))
    if taken:
        logger.warning("took over deliveries a stopped sender left pending", extra={"rows": taken})
