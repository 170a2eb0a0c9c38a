"""The outbox commits with the change, consumers run once, failures end as replayable letters."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import override_settings

from tasks_app import services
from tasks_app.models import Task
from tests.webapp.events.conftest import TEST_TOPIC, Register, emit_test_event
from webapp.events.guard import deliver_once
from webapp.events.models import DeadLetter, OutboxEvent, ProcessedEvent
from webapp.events.registry import Envelope, subscriptions_for
from webapp.events.runtimes.inline import InlineRuntime


class Boom(Exception):
    pass


def test_rolled_back_service_call_leaves_no_event(owner: User) -> None:
    with pytest.raises(Boom), transaction.atomic():
        services.task_create(owner=owner, title="Never happened")
        raise Boom

    assert not Task.objects.exists()
    assert not OutboxEvent.objects.exists()


def test_emit_outside_a_transaction_is_refused(owner: User) -> None:
    from webapp.events.outbox import emit

    with pytest.raises(RuntimeError, match="transaction"):
        emit(topic=TEST_TOPIC, type="test.thing.happened.v1", subject="x", data={}, user_id=1)


def test_committed_event_reaches_its_subscriber_once(
    owner: User, register_subscriber: Register
) -> None:
    seen: list[Envelope] = []
    register_subscriber(seen.append)

    row = emit_test_event(owner, n=1)

    assert [e["id"] for e in seen] == [str(row.event_id)]
    assert seen[0]["data"] == {"n": 1}
    row.refresh_from_db()
    assert row.published_at is not None


def test_duplicate_delivery_runs_the_handler_once(
    owner: User, register_subscriber: Register, inline_runtime: InlineRuntime
) -> None:
    seen: list[str] = []
    register_subscriber(lambda envelope: seen.append(envelope["id"]))
    row = emit_test_event(owner)

    # The broker delivering the same event again, once through the runtime, once directly.
    inline_runtime.publish(row)
    (subscription,) = subscriptions_for(row.envelope, row.topic)
    assert deliver_once(subscription, row.envelope) is False

    assert seen == [str(row.event_id)]
    assert ProcessedEvent.objects.filter(event_id=row.event_id).count() == 1


def test_handler_effects_and_processed_mark_roll_back_together(
    owner: User, register_subscriber: Register
) -> None:
    def handler(envelope: Envelope) -> None:
        Task.objects.create(owner=owner, title="side effect")
        raise Boom

    register_subscriber(handler)

    with override_settings(EVENT_RETRY_ATTEMPTS=0):
        row = emit_test_event(owner)

    assert not Task.objects.exists()
    assert not ProcessedEvent.objects.filter(event_id=row.event_id).exists()


def test_handler_failing_every_attempt_leaves_one_dead_letter_that_replay_delivers(
    owner: User, register_subscriber: Register
) -> None:
    calls: list[str] = []
    broken = True

    def handler(envelope: Envelope) -> None:
        calls.append(envelope["id"])
        if broken:
            raise Boom("downstream is down")
        Task.objects.create(owner=owner, title=f"made by {envelope['id']}")

    register_subscriber(handler, consumer="tests.flaky")

    with override_settings(EVENT_RETRY_ATTEMPTS=3):
        row = emit_test_event(owner)

    assert len(calls) == 4  # the first try and three retries
    letter = DeadLetter.objects.get()
    assert letter.consumer == "tests.flaky" and letter.topic == TEST_TOPIC
    assert letter.event_id == row.event_id and letter.attempts == 4
    assert "downstream is down" in letter.error and letter.replayed_at is None
    assert letter.envelope == row.envelope
    row.refresh_from_db()
    assert row.published_at is not None  # every subscriber took it: one by dead-lettering

    broken = False
    out = StringIO()
    call_command("replay_dead_letters", "--consumer", "tests.flaky", stdout=out)

    letter.refresh_from_db()
    assert letter.replayed_at is not None
    assert Task.objects.get().title == f"made by {row.event_id}"
    assert ProcessedEvent.objects.filter(consumer="tests.flaky", event_id=row.event_id).exists()
    assert (
        f"dead letter {letter.pk} (tests.flaky, event {row.event_id}): replayed" in out.getvalue()
    )
    assert "1 replayed, 0 failed" in out.getvalue()

    # A second replay finds nothing left to do and runs nothing.
    call_command("replay_dead_letters", "--all", stdout=StringIO())
    assert len(calls) == 5


def test_replay_that_fails_again_keeps_the_letter_with_the_new_error(
    owner: User, register_subscriber: Register
) -> None:
    def handler(envelope: Envelope) -> None:
        raise Boom("still down")

    register_subscriber(handler, consumer="tests.down")
    with override_settings(EVENT_RETRY_ATTEMPTS=0):
        emit_test_event(owner)
    letter = DeadLetter.objects.get()

    err = StringIO()
    with pytest.raises(CommandError, match="1 dead letter"):
        call_command("replay_dead_letters", "--id", str(letter.pk), stdout=StringIO(), stderr=err)

    letter.refresh_from_db()
    assert letter.replayed_at is None and letter.attempts == 2
    assert "still down" in letter.error and "failed again" in err.getvalue()
    assert not ProcessedEvent.objects.exists()


def test_replay_selects_by_consumer_and_id(owner: User, register_subscriber: Register) -> None:
    fail = {"tests.a": True, "tests.b": True}

    def handler_for(name: str) -> Any:
        def handler(envelope: Envelope) -> None:
            if fail[name]:
                raise Boom(name)

        return handler

    register_subscriber(handler_for("tests.a"), consumer="tests.a")
    register_subscriber(handler_for("tests.b"), consumer="tests.b")
    with override_settings(EVENT_RETRY_ATTEMPTS=0):
        emit_test_event(owner)
        emit_test_event(owner)
    assert DeadLetter.objects.count() == 4
    fail.update({"tests.a": False, "tests.b": False})

    call_command("replay_dead_letters", "--consumer", "tests.a", stdout=StringIO())
    assert set(
        DeadLetter.objects.filter(replayed_at__isnull=False).values_list("consumer", flat=True)
    ) == {"tests.a"}

    one_b = DeadLetter.objects.filter(consumer="tests.b").order_by("pk").first()
    assert one_b is not None
    call_command("replay_dead_letters", "--id", str(one_b.pk), stdout=StringIO())
    assert DeadLetter.objects.filter(replayed_at__isnull=True).count() == 1


def test_replay_needs_a_selection() -> None:
    with pytest.raises(CommandError, match="--consumer, --id or --all"):
        call_command("replay_dead_letters", stdout=StringIO())


def test_replay_of_an_unknown_consumer_is_reported(
    owner: User, register_subscriber: Register
) -> None:
    def handler(envelope: Envelope) -> None:
        raise Boom

    register_subscriber(handler, consumer="tests.retired")
    with override_settings(EVENT_RETRY_ATTEMPTS=0):
        emit_test_event(owner)
    letter = DeadLetter.objects.get()
    letter.consumer = "tests.no-longer-registered"
    letter.save(update_fields=["consumer"])

    err = StringIO()
    with pytest.raises(CommandError):
        call_command("replay_dead_letters", "--all", stdout=StringIO(), stderr=err)

    assert "no such consumer" in err.getvalue()
    letter.refresh_from_db()
    assert letter.replayed_at is None
