"""Rate limits live in PostgreSQL, so every process and replica on one database shares them."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth.models import User
from django.db import connection
from rest_framework_simplejwt.tokens import RefreshToken

from tests.webapp.test_serve import NOT_INHERITED, ROOT, free_port, wait_ready
from tests.webapp.test_serving import call
from webapp.ratelimit.models import RateCounter
from webapp.ratelimit.services import Rate, counters_prune, hit

# A window edge in the middle of a test shifts nothing it checks (a sliding window), and
# an hour keeps the previous window's share from decaying measurably while the test runs.
HOURLY = "7/hour"
NOON = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def test_hits_over_the_limit_are_refused_with_the_time_until_one_fits() -> None:
    with time_machine.travel(NOON + timedelta(seconds=15), tick=False):
        decisions = [hit(key="k", rate="3/minute") for _ in range(4)]

    assert [d.allowed for d in decisions] == [True, True, True, False]
    # The next minute starts in 45 s, and this one's 3 hits weigh 3 x (1 - t/60) in it, which
    # leaves room for one once t = 20 s.
    assert decisions[-1].retry_after == pytest.approx(65)


def test_the_previous_window_counts_in_proportion_to_its_overlap() -> None:
    """GIVEN 3/minute used up at 12:00:50, WHEN 20 s of the next minute have passed,
    THEN the last window still weighs 3 x 40/60 = 2, so one request fits, not three."""
    with time_machine.travel(NOON + timedelta(seconds=50), tick=False):
        assert all(hit(key="k", rate="3/minute").allowed for _ in range(3))

    with time_machine.travel(NOON + timedelta(seconds=80), tick=False):
        first, second = hit(key="k", rate="3/minute"), hit(key="k", rate="3/minute")
    # 3 x (1 - t/60) + 1 + 1 <= 3 once t >= 40 s into the minute: 20 s from now.
    assert first.allowed and not second.allowed
    assert second.retry_after == pytest.approx(20)

    with time_machine.travel(NOON + timedelta(seconds=100), tick=False):
        assert hit(key="k", rate="3/minute").allowed


def test_refused_hits_are_not_counted() -> None:
    with time_machine.travel(NOON, tick=False):
        for _ in range(10):
            hit(key="k", rate="2/minute")

    # Half way through the next minute the last one weighs 2 x 1/2, not 10 x 1/2.
    with time_machine.travel(NOON + timedelta(seconds=90), tick=False):
        assert hit(key="k", rate="2/minute").allowed


def test_keys_and_an_off_rate_are_independent() -> None:
    with time_machine.travel(NOON, tick=False):
        assert hit(key="a", rate="1/minute").allowed
        assert not hit(key="a", rate="1/minute").allowed
        assert hit(key="b", rate="1/minute").allowed
        assert all(hit(key="c", rate="off").allowed for _ in range(3))

    assert set(RateCounter.objects.values_list("key", flat=True)) == {"a", "b"}


def test_expired_counters_are_pruned() -> None:
    with time_machine.travel(NOON, tick=False):
        hit(key="old", rate="1/minute")
    with time_machine.travel(NOON + timedelta(minutes=1, seconds=30), tick=False):
        hit(key="new", rate="1/minute")
        # "old" still weighs on its key until two windows after its own start.
        assert counters_prune() == 0

    assert counters_prune(now=NOON + timedelta(minutes=2, seconds=1)) == 1
    assert list(RateCounter.objects.values_list("key", flat=True)) == ["new"]


def test_the_counters_skip_the_write_ahead_log() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relpersistence FROM pg_class WHERE relname = 'ratelimit_counter'")
        assert cursor.fetchone() == ("u",)  # UNLOGGED


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [("100/minute", Rate(100, 60)), ("5/s", Rate(5, 1)), ("2/Day", Rate(2, 86400))],
)
def test_rates_read_like_drf_ones(rate: str, parsed: Rate) -> None:
    assert Rate.parse(rate) == parsed


@pytest.mark.parametrize("rate", ["100", "x/minute", "10/fortnight", "-1/minute"])
def test_a_malformed_rate_is_refused(rate: str) -> None:
    with pytest.raises(ValueError, match="a rate is"):
        Rate.parse(rate)


def test_many_threads_at_once_never_get_more_than_the_limit() -> None:
    limit, threads, each = 37, 16, 6
    allowed: list[bool] = []
    lock = threading.Lock()
    start = threading.Barrier(threads)

    def hammer() -> None:
        try:
            start.wait()
            outcomes = [hit(key="busy", rate=f"{limit}/hour").allowed for _ in range(each)]
            with lock:
                allowed.extend(outcomes)
        finally:
            connection.close()  # this thread's own connection

    workers = [threading.Thread(target=hammer) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)

    assert len(allowed) == threads * each
    assert allowed.count(True) == limit


def _database_url() -> str:
    """The test database, for processes started from here."""
    db = connection.settings_dict
    return f"postgresql://{db['USER']}@:{db['PORT']}/{db['NAME']}?host={db['HOST']}"


@pytest.fixture
def two_web_processes(tmp_path: Path) -> Iterator[list[str]]:
    """Two `manage.py web` servers (as two replicas are) on the test database."""
    processes: list[tuple[subprocess.Popen[bytes], str]] = []
    try:
        for name in ("a", "b"):
            port = free_port()
            env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
            env.update(
                DATABASE_URL=_database_url(),
                EVENT_RUNTIME="inline",
                WEB_START_EVENT_RUNTIME="false",
                WEB_CONCURRENCY="1",
                WEB_THREADS="2",
                API_THROTTLE_USER=HOURLY,
                HOST="127.0.0.1",
                PORT=str(port),
                PROMETHEUS_MULTIPROC_DIR=str(tmp_path / f"metrics-{name}"),
            )
            log = (tmp_path / f"web-{name}.log").open("wb")
            process = subprocess.Popen(
                [sys.executable, "manage.py", "web"], cwd=ROOT, env=env, stdout=log, stderr=log
            )
            processes.append((process, f"http://127.0.0.1:{port}"))
        for process, base in processes:
            assert wait_ready(f"{base}/healthz", process) == 200
        yield [base for _, base in processes]
    finally:
        for process, _ in processes:
            process.terminate()
        for process, _ in processes:
            process.wait(60)


@pytest.mark.slow
def test_one_users_limit_is_shared_by_two_server_processes(
    two_web_processes: list[str], owner: User
) -> None:
    """The defect: each process kept its own counts, so N processes allowed N times the rate."""
    token = str(RefreshToken.for_user(owner).access_token)
    answers = [
        (base, *call(f"{base}/api/v1/tasks/", token=token)[:2])
        for _ in range(6)
        for base in two_web_processes
    ]

    statuses = [status for _, status, _ in answers]
    assert statuses == [200] * 7 + [429] * 5, statuses
    assert {base for base, status, _ in answers if status == 200} == set(two_web_processes)
    # Up to two periods: early in a window, the hits just counted still weigh on the next one.
    assert all(0 < int(headers["retry-after"]) <= 2 * 3600 for _, s, headers in answers if s == 429)
