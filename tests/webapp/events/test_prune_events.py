"""manage.py prune_events: old published events and processed marks go, pending ones stay."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.utils import timezone

from tests.webapp.events.conftest import Register, emit_test_event
from webapp.events.models import OutboxEvent, ProcessedEvent
from webapp.events.registry import Envelope
from webapp.events.runtime import set_runtime
from webapp.events.runtimes.local import LocalRuntime


def prune(age: str) -> str:
    out = StringIO()
    call_command("prune_events", "--older-than", age, stdout=out)
    return out.getvalue()


def test_prune_deletes_old_published_events_and_marks_but_keeps_recent_and_pending(
    owner: User, register_subscriber: Register
) -> None:
    def handler(envelope: Envelope) -> None:
        return None

    register_subscriber(handler)
    now = timezone.now()
    with time_machine.travel(now - timedelta(days=100), tick=False):
        old_published = [emit_test_event(owner), emit_test_event(owner)]
        # Installed but never started: this event stays pending however old it gets.
        set_runtime(LocalRuntime())
        old_pending = emit_test_event(owner)
    with time_machine.travel(now - timedelta(days=10), tick=False):
        recent_pending = emit_test_event(owner)
    assert ProcessedEvent.objects.count() == 2

    output = prune("90d")

    remaining = set(OutboxEvent.objects.values_list("sequence", flat=True))
    assert remaining == {old_pending.sequence, recent_pending.sequence}
    assert not ProcessedEvent.objects.exists()
    assert "deleted 2 published outbox event(s) and 2 processed-event mark(s)" in output
    assert all(row.sequence not in remaining for row in old_published)


def test_prune_accepts_hours(owner: User) -> None:
    now = timezone.now()
    with time_machine.travel(now - timedelta(hours=30), tick=False):
        emit_test_event(owner)
    newer = emit_test_event(owner)

    assert "deleted 0 published" in prune("31h")
    assert "deleted 1 published" in prune("24H")
    assert list(OutboxEvent.objects.values_list("sequence", flat=True)) == [newer.sequence]


@pytest.mark.parametrize("age", ["90", "0d", "3w", "-1d", "d"])
def test_prune_rejects_an_age_without_a_unit_or_amount(age: str) -> None:
    with pytest.raises(CommandError, match="--older-than"):
        prune(age)
