"""Midnight storm benchmark: N series all due at the same instant.

Run: `.venv/bin/python bench/recurrence_storm.py [--series N] [--users U] [--batch-size B]
[--workers W] [--rearm]`. Starts a throw-away embedded PostgreSQL in a temporary directory,
migrates it, creates N daily series (default 100,000) over U users, all due at one instant
with their `series-` jobs in the job table, then prints:

- materialisation: the sweep the job handler runs (`materialise_due`), called from W threads
  (`--workers`, default 2: concurrent job callbacks) until no series is due: elapsed seconds
  and instances/second. Each instance gets its row and its own
  `todo.task.created.v1` outbox row (publishing them is the relay's work, measured by
  bench/events.py);
- with `--rearm`: firing all N jobs through the job table as the local runtime does (each
  finds its instance made and re-arms itself for the next day).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import setup_django

INSTANT = datetime(2030, 1, 1, 0, 0, tzinfo=UTC)


def install_runtime() -> Any:
    """Jobs in the table like the local runtime; events stay in the outbox for the relay."""
    from webapp.events.runtime import set_runtime
    from webapp.events.runtimes.inline import InlineRuntime

    class StormRuntime(InlineRuntime):
        def outbox_committed(self) -> None:
            return None

    runtime = StormRuntime()
    set_runtime(runtime)
    return runtime


def create_series(*, count: int, users: int) -> None:
    """Rows straight from SQL (setup is not what is measured): N daily series due at INSTANT,
    half of them in Europe/Berlin, each with its job due then too."""
    from django.contrib.auth.models import User
    from django.db import connection, transaction

    from recurrence_app.models import RecurringSeries
    from webapp.events.models import ScheduledJob

    User.objects.bulk_create(
        [User(username=f"storm-{n}", email=f"storm-{n}@example.com") for n in range(users)]
    )
    series_table = RecurringSeries._meta.db_table
    job_table = ScheduledJob._meta.db_table
    user_table = User._meta.db_table
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"""
            WITH owners AS (
                SELECT id, row_number() OVER (ORDER BY id) - 1 AS n FROM {user_table}
                WHERE username LIKE 'storm-%%'
            )
            INSERT INTO {series_table} (id, owner_id, title, description, priority, tags,
                reminder_templates, rule, timezone, dtstart, excluded, anchor, lead_time,
                status, next_occurrence, job_due_at, created_at, updated_at)
            SELECT gen_random_uuid(), owners.id, 'Daily chore ' || g, '', 2, '{{}}', '[]',
                'FREQ=DAILY', CASE WHEN g %% 2 = 0 THEN 'UTC' ELSE 'Europe/Berlin' END,
                %s::timestamptz - interval '1 day', '{{}}', 'due', interval '0',
                'active', %s, %s, now(), now()
            FROM generate_series(0, %s - 1) AS g JOIN owners ON owners.n = g %% %s
            """,  # names from the models, values bound
            [INSTANT, INSTANT, INSTANT, count, users],
        )
        cursor.execute(
            f"""
            INSERT INTO {job_table} (name, due_at, data, attempts, created_at)
            SELECT 'series-' || id, job_due_at,
                jsonb_build_object('series', id::text, 'due_at', %s), 0, now()
            FROM {series_table}
            """,
            [INSTANT.isoformat()],
        )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {series_table}")


def sweep_until_done(*, workers: int, batch: int) -> tuple[int, int]:
    """Run the job handler's sweep from `workers` threads, as concurrent job callbacks do
    (SKIP LOCKED gives each its own batch), until no series is due."""
    from django.db import connection

    from recurrence_app import materialise

    totals = [0, 0]
    lock = threading.Lock()

    def work() -> None:
        try:
            while True:
                result = materialise.materialise_due(now=INSTANT, batch_size=batch)
                if result.series == 0:
                    return
                with lock:
                    totals[0] += 1
                    totals[1] += result.instances
        finally:
            connection.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return totals[0], totals[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--series", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=1_000)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument(
        "--workers", type=int, default=2, help="concurrent job callbacks (the worker's threads)"
    )
    parser.add_argument("--rearm", action="store_true", help="also fire and re-arm every job")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="todo-bench-") as tmp:
        setup_django(Path(tmp), event_runtime="inline")
        import time_machine

        from recurrence_app import materialise
        from tasks_app.models import Task
        from webapp.events.models import OutboxEvent

        runtime = install_runtime()
        batch = args.batch_size or materialise.BATCH_SIZE
        began = time.perf_counter()
        create_series(count=args.series, users=args.users)
        print(f"setup: {args.series} series over {args.users} users due at {INSTANT.isoformat()}")
        print(f"  created in {time.perf_counter() - began:.1f} s")

        with time_machine.travel(INSTANT, tick=False):
            began = time.perf_counter()
            sweeps, instances = sweep_until_done(workers=args.workers, batch=batch)
            elapsed = time.perf_counter() - began
        made = Task.objects.filter(occurrence=INSTANT).count()
        events = OutboxEvent.objects.filter(type="todo.task.created.v1").count()
        print(f"materialisation ({args.workers} workers, batch {batch}, {sweeps} sweeps):")
        print(f"  {instances} instances in {elapsed:.1f} s = {instances / elapsed:,.0f} /s")
        print(f"  check: {made} instance rows, {events} created events (one each)")
        print(f"  goal: {args.series} within 60 s -> {'met' if elapsed < 60 else 'NOT met'}")

        if args.rearm:
            with time_machine.travel(INSTANT, tick=False):
                began = time.perf_counter()
                fired = len(runtime.fire_due_jobs(now=INSTANT))
                elapsed = time.perf_counter() - began
            print("re-arming (every job fires once through the job table):")
            print(f"  {fired} jobs in {elapsed:.1f} s = {fired / elapsed:,.0f} /s")


if __name__ == "__main__":
    main()
