"""Other processes wake the local runtime's relay and timer with a datagram."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from django.db import connection

from tests.conftest import wait_until
from tests.webapp.events.conftest import Register, emit_test_event
from webapp.events.models import OutboxEvent
from webapp.events.runtime import set_runtime
from webapp.events.runtimes.local import LocalRuntime
from webapp.events.wakeup import JOBS, OUTBOX, receive_wakeups, send_wakeup


def test_a_wakeup_sent_reaches_the_waker_of_its_kind() -> None:
    stopping = threading.Event()
    woken: list[str] = []
    ready = threading.Event()

    def outbox() -> None:
        woken.append("outbox")

    def jobs() -> None:
        woken.append("jobs")

    receiver = threading.Thread(
        target=receive_wakeups, args=({OUTBOX: outbox, JOBS: jobs},), kwargs={"stopping": stopping}
    )
    receiver.start()
    try:
        # Until the receiver has bound its socket, a datagram has nowhere to go.
        def delivered() -> bool:
            if not ready.is_set():
                send_wakeup(JOBS)
            return "jobs" in woken

        wait_until(delivered, timeout=5)
        ready.set()
        send_wakeup(OUTBOX)
        wait_until(lambda: "outbox" in woken, timeout=5)
    finally:
        stopping.set()
        receiver.join(5)
    assert not receiver.is_alive()


def test_sending_with_nobody_listening_neither_blocks_nor_fails() -> None:
    send_wakeup(OUTBOX)  # no runtime: nothing to wake, nothing raised


@pytest.fixture
def slow_ticking_runtime() -> Iterator[LocalRuntime]:
    # Ticks far longer than the test may take: only a wake-up can make the relay run.
    local = LocalRuntime(workers=1, relay_tick_seconds=300.0, timer_tick_seconds=300.0)
    set_runtime(local)
    yield local
    local.stop()


def test_an_event_committed_by_another_process_is_delivered_without_waiting_for_a_tick(
    slow_ticking_runtime: LocalRuntime, owner: User, register_subscriber: Register
) -> None:
    seen: list[str] = []
    register_subscriber(lambda envelope: seen.append(envelope["id"]))
    first = emit_test_event(owner, n=0)  # picked up by the pass at start
    slow_ticking_runtime.start()
    wait_until(lambda: seen == [str(first.event_id)])

    # Another process (as a web worker of `manage.py serve` is) commits an event.
    script = (
        "import django; django.setup()\n"
        "from django.db import transaction\n"
        "from webapp.events.outbox import emit\n"
        "with transaction.atomic():\n"
        f"    emit(topic='test-events', type='test.thing.happened.v1', subject='x', "
        f"data={{}}, user_id={owner.pk})\n"
    )
    database = connection.settings_dict
    env = {
        **os.environ,
        "EVENT_RUNTIME": "local",  # installed, not started: it can only wake the runtime
        "DATABASE_URL": f"postgresql://{database['USER']}@/{database['NAME']}"
        f"?host={database['HOST']}",
    }
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60, env=env)  # noqa: S603

    wait_until(lambda: len(seen) == 2, timeout=10)
    assert not OutboxEvent.objects.filter(published_at__isnull=True).exists()
