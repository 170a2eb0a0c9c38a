"""A burst goes to each consumer in one transaction; a bad event falls back to one by one."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from tests.webapp.events.conftest import Register, emit_test_event
from webapp.events.guard import deliver_once
from webapp.events.models import DeadLetter, OutboxEvent, ParkedDelivery, ProcessedEvent
from webapp.events.registry import Envelope, subscriptions_for
from webapp.events.runtime import set_runtime
from webapp.events.runtimes.inline import deliver_rows
from webapp.events.runtimes.local import LocalRuntime


@pytest.fixture(autouse=True)
def _rows_wait_in_the_outbox() -> None:
    """A runtime that delivers nothing by itself: the test hands the rows over."""
    set_runtime(LocalRuntime())


def test_a_burst_reaches_its_consumer_in_order_in_one_transaction(
    owner: User, register_subscriber: Register
) -> None:
    seen: list[Envelope] = []
    register_subscriber(seen.append)
    rows = [emit_test_event(owner, n=n) for n in range(20)]

    with CaptureQueriesContext(connection) as queries:
        parked = deliver_rows(rows, park_failures=True)

    assert [envelope["data"]["n"] for envelope in seen] == list(range(20))
    assert parked is False
    assert ProcessedEvent.objects.filter(consumer="tests.recorder").count() == 20
    # One mark for the whole batch, inside one transaction: not three statements per event.
    marks = [q for q in queries.captured_queries if "events_processedevent" in q["sql"]]
    assert len(marks) == 1
    assert sum(q["sql"].startswith("BEGIN") for q in queries.captured_queries) <= 1


def test_one_bad_event_is_dead_lettered_alone_and_the_rest_are_processed_once(
    owner: User, register_subscriber: Register, settings: object
) -> None:
    committed: list[int] = []

    def handler(envelope: Envelope) -> None:
        if envelope["data"]["n"] == 3:
            raise ValueError("poison")
        # An effect that counts only if the handler's transaction commits, as a row would.
        transaction.on_commit(lambda: committed.append(envelope["data"]["n"]))

    register_subscriber(handler)
    rows = [emit_test_event(owner, n=n) for n in range(6)]

    deliver_rows(rows, park_failures=False)

    # The batch rolled back as a whole, then each event went alone: each effect once.
    assert committed == [0, 1, 2, 4, 5]
    assert ProcessedEvent.objects.filter(consumer="tests.recorder").count() == 5
    letter = DeadLetter.objects.get()
    assert letter.envelope["data"]["n"] == 3 and "poison" in letter.error


def test_a_consumer_skips_events_of_the_batch_it_already_processed(
    owner: User, register_subscriber: Register
) -> None:
    seen: list[int] = []
    register_subscriber(lambda envelope: seen.append(envelope["data"]["n"]))
    rows = [emit_test_event(owner, n=n) for n in range(4)]
    (subscription,) = subscriptions_for(rows[1].envelope, rows[1].topic)
    deliver_once(subscription, rows[1].envelope)
    assert seen == [1]
    seen.clear()

    deliver_rows(rows, park_failures=True)

    assert seen == [0, 2, 3]


def test_a_bad_event_parks_and_holds_only_its_own_users_later_events(
    owner: User, outsider: User, register_subscriber: Register
) -> None:
    seen: list[tuple[int, int]] = []

    def handler(envelope: Envelope) -> None:
        if envelope["data"]["n"] == 1:
            raise ValueError("poison")
        # Counted only if the handler's transaction commits (the batch attempt rolls back).
        done = (int(envelope["partitionkey"]), envelope["data"]["n"])
        transaction.on_commit(lambda: seen.append(done))

    register_subscriber(handler)
    rows = [emit_test_event(user, n=n) for n in range(3) for user in (owner, outsider)]

    assert deliver_rows(rows, park_failures=True) is True

    # The batch failed as a whole; alone, each user's events went in order until its poison,
    # and each user's event after it waits behind it, never tried.
    assert seen == [(owner.pk, 0), (outsider.pk, 0)]
    parked = list(ParkedDelivery.objects.order_by("id").values_list("partition_key", "attempts"))
    assert parked == [
        (str(owner.pk), 1),
        (str(outsider.pk), 1),
        (str(owner.pk), 0),
        (str(outsider.pk), 0),
    ]
    assert not DeadLetter.objects.exists()


def test_emit_writes_row_and_envelope_sequence_with_one_statement(owner: User) -> None:
    from webapp.events.outbox import emit

    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        row = emit(type="todo.task.created.v1", subject="tasks/x", data={"a": 1}, user_id=owner.pk)

    stored = OutboxEvent.objects.get(pk=row.sequence)
    assert len([q for q in queries.captured_queries if "events_outboxevent" in q["sql"]]) == 1
    assert stored.envelope == row.envelope
    assert stored.envelope["sequence"] == str(stored.sequence)
    assert json.loads(json.dumps(row.envelope))["data"] == {"a": 1}
    assert stored.event_id == row.event_id and stored.topic == "task-operations"
