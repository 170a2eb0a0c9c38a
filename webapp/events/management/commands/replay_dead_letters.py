"""`manage.py replay_dead_letters`: deliver dead-lettered events to their consumers again."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from webapp.events.selectors import dead_letters_unreplayed
from webapp.events.services import ReplayOutcome, dead_letter_replay


class Command(BaseCommand):
    help = (
        "Re-deliver dead letters through the consumer guard and mark them replayed. "
        "Choose them with --consumer and/or --id, or take every one with --all."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--consumer", help="only this consumer's dead letters")
        parser.add_argument(
            "--id", dest="ids", type=int, nargs="+", action="extend", help="dead letter ids"
        )
        parser.add_argument("--all", action="store_true", help="every unreplayed dead letter")

    def handle(
        self, *args: Any, consumer: str | None, ids: list[int] | None, all: bool, **options: Any
    ) -> None:
        if not (consumer or ids or all):
            raise CommandError("choose dead letters with --consumer, --id or --all")
        letters = list(dead_letters_unreplayed(consumer=consumer, ids=ids))
        if ids:
            missing = sorted(set(ids) - {letter.pk for letter in letters})
            for dead_letter_id in missing:
                self.stderr.write(f"dead letter {dead_letter_id}: not found or already replayed")
        failed = 0
        for letter in letters:
            result = dead_letter_replay(dead_letter=letter)
            line = (
                f"dead letter {result.dead_letter_id} ({result.consumer}, event "
                f"{result.event_id}): {result.outcome.value}"
            )
            if result.outcome in {ReplayOutcome.REPLAYED, ReplayOutcome.DUPLICATE}:
                self.stdout.write(line)
            else:
                failed += 1
                self.stderr.write(f"{line} {result.error}".rstrip())
        self.stdout.write(f"{len(letters) - failed} replayed, {failed} failed")
        if failed:
            raise CommandError(f"{failed} dead letter(s) could not be replayed")
