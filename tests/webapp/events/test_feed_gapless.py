"""The change feed never skips an event that commits after a later-numbered one.

GIVEN writers whose transactions draw outbox numbers in one order and commit in another
WHEN a reader tails the feed by following next_after
THEN it reads every one of its user's events exactly once, in sequence order.
"""

from __future__ import annotations

import random
import threading
import time

from django.contrib.auth.models import User
from django.db import connection, transaction

from tests.webapp.events.conftest import TEST_TOPIC, TEST_TYPE
from webapp.events.outbox import emit
from webapp.events.selectors import event_feed

WRITERS = 6
EVENTS_PER_WRITER = 15


def _write(user: User, writer: int, errors: list[BaseException]) -> None:
    rng = random.Random(writer)
    try:
        for n in range(EVENTS_PER_WRITER):
            with transaction.atomic():
                emit(
                    topic=TEST_TOPIC,
                    type=TEST_TYPE,
                    subject=f"things/{user.pk}",
                    data={"writer": writer, "n": n},
                    user_id=user.pk,
                )
                # Hold the number uncommitted for a while, so later numbers commit first.
                time.sleep(rng.uniform(0, 0.02))
    except BaseException as exc:
        errors.append(exc)
    finally:
        connection.close()


def test_a_tailing_reader_sees_every_event_once_in_order_under_concurrent_writers(
    owner: User,
) -> None:
    errors: list[BaseException] = []
    writers = [threading.Thread(target=_write, args=(owner, w, errors)) for w in range(WRITERS)]
    read: list[int] = []
    after = 0

    def tail() -> bool:
        nonlocal after
        page = event_feed(user=owner, after=after, limit=7)
        read.extend(event.sequence for event in page)
        after = page[-1].sequence if page else after
        return bool(page)

    for thread in writers:
        thread.start()
    while any(thread.is_alive() for thread in writers):
        tail()
    for thread in writers:
        thread.join()
    while tail():  # everything has committed: read to the end
        pass

    assert errors == []
    assert read == sorted(set(read))  # in order, none twice
    assert len(read) == WRITERS * EVENTS_PER_WRITER  # none missed
