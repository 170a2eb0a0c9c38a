"""`manage.py reschedule_series_jobs`: rebuild every active series' job from the database.

For after a scheduler loss. Under Dapr, run it where the recurrence worker runs (its sidecar
is app-id `recurrence`, so the jobs fire back on that worker), e.g.
`kubectl exec deploy/<release>-recurrence -- python manage.py reschedule_series_jobs`.
A job already past due is scheduled for now and fires at once.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from django.utils import timezone

from recurrence_app.materialise import job_name
from recurrence_app.models import Anchor, RecurringSeries, SeriesStatus
from webapp.events import jobs


def reschedule_all(*, chunk: int = 1000) -> int:
    """Schedule the job of every active due-anchored series; returns how many."""
    done = 0
    last = None
    while True:
        rows = RecurringSeries.objects.filter(
            status=SeriesStatus.ACTIVE, anchor=Anchor.DUE, job_due_at__isnull=False
        ).order_by("id")
        if last is not None:
            rows = rows.filter(id__gt=last)
        batch = list(rows.values_list("id", "job_due_at")[:chunk])
        if not batch:
            return done
        now = timezone.now()
        with transaction.atomic():
            for series_id, due_at in batch:
                if due_at is None:  # excluded by the query; this keeps the type checker honest
                    continue
                moment = max(due_at, now)
                jobs.schedule(
                    name=job_name(series_id),
                    due_at=moment,
                    data={"series": str(series_id), "due_at": due_at.isoformat()},
                )
        done += len(batch)
        last = batch[-1][0]


class Command(BaseCommand):
    help = "Re-create the series- job of every active series from the database."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--chunk", type=int, default=1000, help="series per transaction")

    def handle(self, *args: Any, chunk: int, **options: Any) -> None:
        count = reschedule_all(chunk=chunk)
        self.stdout.write(f"Scheduled {count} series jobs.")
