"""`manage.py prune_events --older-than 90d`: drop old published events and consumer marks."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.events.services import events_prune

_AGE = re.compile(r"^\s*(\d+)\s*([dh])\s*$", re.IGNORECASE)


def parse_age(text: str) -> timedelta:
    """`90d` or `36h`; a bare number is not accepted, so a unit is never guessed."""
    match = _AGE.match(text)
    if match is None or int(match.group(1)) == 0:
        raise CommandError(f"--older-than must look like 90d or 36h (more than 0), got {text!r}")
    amount, unit = int(match.group(1)), match.group(2).lower()
    return timedelta(days=amount) if unit == "d" else timedelta(hours=amount)


class Command(BaseCommand):
    help = (
        "Delete published outbox events (and processed-event marks) older than an age. "
        "Pending events are never deleted."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--older-than", required=True, help="an age such as 90d or 36h")

    def handle(self, *args: Any, older_than: str, **options: Any) -> None:
        result = events_prune(older_than=parse_age(older_than))
        self.stdout.write(
            f"deleted {result.outbox_events} published outbox event(s) and "
            f"{result.processed_events} processed-event mark(s) older than {older_than}"
        )
