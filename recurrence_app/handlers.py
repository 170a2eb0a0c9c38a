"""The recurrence worker's subscribers and its `series-` job handler.

Under Dapr these run on the `recurrence` app-id (so the series jobs they schedule fire back
there); in the embedded shape and in tests they run in the one process.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from recurrence_app import services
from recurrence_app.materialise import JOB_PREFIX, materialise_due, sync_job
from recurrence_app.metrics import JOB_LAG
from recurrence_app.models import RecurringSeries
from webapp.events import topics
from webapp.events.registry import Envelope, job_handler, subscriber

APP_ID = "recurrence"


def _moment(value: Any) -> datetime | None:
    return parse_datetime(value) if isinstance(value, str) else None


@subscriber(
    consumer="recurrence.task_operations",
    app_id=APP_ID,
    topic=topics.TASK_OPERATIONS,
    types=[
        topics.TASK_COMPLETED,
        topics.TASK_DELETED,
        topics.SERIES_CREATED,
        topics.SERIES_DELETED,
    ],
)
def on_task_operation(envelope: Envelope) -> None:
    data = envelope.get("data") or {}
    event_type = envelope["type"]
    if event_type in (topics.SERIES_CREATED, topics.SERIES_DELETED):
        _sync_series_job(data.get("series", {}).get("id"))
        return
    task = data.get("task") or {}
    series_id = task.get("series")
    if not series_id:
        return
    if event_type == topics.TASK_COMPLETED:
        services.series_instance_completed(
            series_id=series_id,
            occurrence=_moment(task.get("occurrence")),
            completed_at=_moment(task.get("completed_at")) or timezone.now(),
        )
    else:
        services.series_instance_deleted(
            series_id=series_id, deleted_at=_moment(envelope.get("time")) or timezone.now()
        )
    _sync_series_job(series_id)


@subscriber(
    consumer="recurrence.task_modifications",
    app_id=APP_ID,
    topic=topics.TASK_MODIFICATIONS,
    types=[topics.SERIES_UPDATED],
)
def on_task_modification(envelope: Envelope) -> None:
    _sync_series_job((envelope.get("data") or {}).get("series", {}).get("id"))


def _sync_series_job(series_id: Any) -> None:
    """Schedule (or cancel) the series' job from the row, whatever the event said."""
    if not series_id:
        return
    series = RecurringSeries.objects.filter(pk=series_id).first()
    if series is not None:
        sync_job(series)


@job_handler(prefix=JOB_PREFIX, app_id=APP_ID)
def on_series_job(job_name: str, data: dict[str, Any]) -> None:
    """Materialise this series' due instances, and a batch of other due series with them."""
    now = timezone.now()
    scheduled_for = _moment(data.get("due_at"))
    if scheduled_for is not None:
        JOB_LAG.observe(max(0.0, (now - scheduled_for).total_seconds()))
    try:
        series_id = uuid.UUID(job_name.removeprefix(JOB_PREFIX))
    except ValueError:
        return  # not one of ours; nothing to retry
    materialise_due(now=now, first=series_id)
