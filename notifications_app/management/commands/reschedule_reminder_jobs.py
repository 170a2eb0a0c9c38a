"""`manage.py reschedule_reminder_jobs`: send every waiting reminder's job to the scheduler again.

For operators after restoring the Dapr Scheduler's state or switching runtimes: jobs are
replaced by name, so running it twice schedules nothing twice. It also delivers notifications
a stopped process left pending whose lease lapsed (their check jobs normally do that, but those
are lost with the scheduler's state too). Run it where the notifications worker's jobs live
(under Dapr, with the `notifications` app-id's sidecar).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from notifications_app.leases import notifications_redeliver
from notifications_app.scheduling import reminder_jobs_reschedule_all


class Command(BaseCommand):
    help = "Schedule the jobs of all reminders still waiting to fire; redeliver stuck ones."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--stuck-after",
            type=float,
            default=600.0,
            help="seconds after which a pending notification counts as abandoned (default 600)",
        )

    def handle(self, *args: Any, stuck_after: float, **options: Any) -> None:
        scheduled = reminder_jobs_reschedule_all()
        redelivered = notifications_redeliver(older_than_seconds=stuck_after)
        self.stdout.write(
            f"Scheduled {scheduled} reminder job(s); redelivered {redelivered} notification(s)."
        )
