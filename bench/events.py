"""Event backbone benchmark: commit-to-handler latency and throughput of the local runtime.

Run: `.venv/bin/python bench/events.py [--writers N --events M --tasks K]`. Starts a throw-away
embedded PostgreSQL in a temporary directory, migrates it and prints:

- commit-to-handler latency p50/p95/p99 and delivered events/second with N concurrent writer
  threads (one user each) emitting M events each, one transaction per event, delivered by the
  local runtime through the consumer guard;
- task-creation throughput with and without an outbox row in the same transaction, i.e. what
  emitting costs each write.

- with `--rate R --seconds S`: commit-to-handler latency while a writer in another process
  (as the web workers of `manage.py serve` are) commits R events a second, one transaction
  each, for S seconds; the runtime hears of the commits through PostgreSQL notifications.

Benchmark events go to a topic of their own so the apps' subscribers do not add their work.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import percentile, setup_django

BENCH_TOPIC = "bench-events"
BENCH_TYPE = "bench.thing.happened.v1"
PACED_WRITERS = 4


def bench_delivery(*, writers: int, events: int) -> None:
    from django.contrib.auth.models import User
    from django.db import connections, transaction

    from webapp.events import registry
    from webapp.events.outbox import emit
    from webapp.events.runtime import get_runtime

    committed: dict[str, float] = {}
    handled: dict[str, float] = {}
    lock = threading.Lock()
    total = writers * events
    all_done = threading.Event()

    @registry.subscriber(
        consumer="bench.recorder", app_id="bench", topic=BENCH_TOPIC, types=[BENCH_TYPE]
    )
    def record(envelope: dict[str, Any]) -> None:
        now = time.perf_counter()
        with lock:
            handled[envelope["id"]] = now
            if len(handled) == total:
                all_done.set()

    users = [User.objects.create_user(f"bench-writer-{n}") for n in range(writers)]
    runtime = get_runtime()
    runtime.start()

    def write(user: User) -> None:
        try:
            for n in range(events):
                with transaction.atomic():
                    holder: dict[str, str] = {}

                    def stamp(holder: dict[str, str] = holder) -> None:
                        committed[holder["id"]] = time.perf_counter()

                    # Registered before emit's own on-commit hook, so it runs first: the moment
                    # the commit returned, before the relay is woken.
                    transaction.on_commit(stamp)
                    row = emit(
                        topic=BENCH_TOPIC,
                        type=BENCH_TYPE,
                        subject=f"things/{n}",
                        data={"n": n},
                        user_id=user.pk,
                    )
                    holder["id"] = str(row.event_id)
        finally:
            connections.close_all()

    started = time.perf_counter()
    threads = [threading.Thread(target=write, args=(user,)) for user in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    written = time.perf_counter()
    if not all_done.wait(120):
        print(f"only {len(handled)} of {total} events delivered in time")
    finished = time.perf_counter()
    runtime.stop()

    latencies_ms = [(handled[key] - committed[key]) * 1000 for key in handled if key in committed]
    print(f"delivery: {writers} writers x {events} events = {total} events")
    print(
        f"  commit-to-handler latency ms: p50 {percentile(latencies_ms, 50):.1f}  "
        f"p95 {percentile(latencies_ms, 95):.1f}  p99 {percentile(latencies_ms, 99):.1f}  "
        f"max {max(latencies_ms):.1f}"
    )
    print(f"  writes: {total / (written - started):.0f} events/s committed")
    print(f"  delivered: {len(handled) / (finished - started):.0f} events/s end to end")


def paced_writer(rate: float, seconds: float, users: list[int], out: str) -> None:
    """Commit `rate` events a second for `seconds` (one per transaction), round-robin over
    `users`; write {event id: commit time} to `out`. Runs in its own process."""
    import django

    django.setup()
    from django.db import transaction

    from webapp.events.outbox import emit

    committed: dict[str, float] = {}
    total = int(rate * seconds)
    started = time.time()
    for n in range(total):
        delay = started + n / rate - time.time()
        if delay > 0:
            time.sleep(delay)
        with transaction.atomic():
            row = emit(
                topic=BENCH_TOPIC,
                type=BENCH_TYPE,
                subject=f"things/{n}",
                data={"n": n},
                user_id=users[n % len(users)],
            )
        committed[str(row.event_id)] = time.time()
    elapsed = time.time() - started
    Path(out).write_text(json.dumps({"committed": committed, "elapsed": elapsed}))


def bench_paced(*, rate: float, seconds: float, users: int, workdir: Path) -> None:
    from django.contrib.auth.models import User

    from webapp.events import registry
    from webapp.events.runtime import get_runtime

    handled: dict[str, float] = {}
    lock = threading.Lock()

    @registry.subscriber(
        consumer="bench.paced", app_id="bench", topic=BENCH_TOPIC, types=[BENCH_TYPE]
    )
    def record(envelope: dict[str, Any]) -> None:
        with lock:
            handled[envelope["id"]] = time.time()

    user_ids = [User.objects.create_user(f"bench-paced-{n}").pk for n in range(users)]
    runtime = get_runtime()
    runtime.start()
    # Four writer processes, each with its share of the users: one commits at most about 450
    # events a second (a transaction's round trips), and `make run`'s two web workers of
    # four threads each commit up to eight at once.
    outs = [workdir / f"paced-{n}.json" for n in range(PACED_WRITERS)]
    context = multiprocessing.get_context("spawn")
    writers = [
        context.Process(
            target=paced_writer,
            args=(rate / PACED_WRITERS, seconds, user_ids[n::PACED_WRITERS], str(out)),
        )
        for n, out in enumerate(outs)
    ]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join()
    results = [json.loads(out.read_text()) for out in outs]
    committed: dict[str, float] = {}
    for result in results:
        committed.update(result["committed"])
    elapsed = max(result["elapsed"] for result in results)
    deadline = time.monotonic() + 60
    while len(handled) < len(committed) and time.monotonic() < deadline:
        time.sleep(0.05)
    runtime.stop()
    latencies_ms = [(handled[key] - at) * 1000 for key, at in committed.items() if key in handled]
    print(
        f"paced: {len(committed)} events over {elapsed:.1f} s "
        f"({len(committed) / elapsed:.0f}/s, asked {rate:.0f}/s) from {PACED_WRITERS} other "
        f"processes, {users} users"
    )
    print(
        f"  commit-to-handler latency ms: p50 {percentile(latencies_ms, 50):.1f}  "
        f"p95 {percentile(latencies_ms, 95):.1f}  p99 {percentile(latencies_ms, 99):.1f}  "
        f"max {max(latencies_ms):.1f}; delivered {len(handled)} of {len(committed)}"
    )


def bench_writes(*, tasks: int) -> None:
    from django.contrib.auth.models import User
    from django.db import transaction

    from tasks_app.events import task_payload, task_subject
    from tasks_app.models import Task
    from webapp.events import registry
    from webapp.events.runtime import get_runtime

    @registry.subscriber(
        consumer="bench.noop", app_id="bench", topic="bench-tasks", types=["bench.task.created.v1"]
    )
    def noop(envelope: dict[str, Any]) -> None:
        return None

    from webapp.events.models import OutboxEvent
    from webapp.events.outbox import emit

    owner = User.objects.create_user("bench-tasks")
    runtime = get_runtime()

    def create(*, with_event: bool) -> float:
        started = time.perf_counter()
        for n in range(tasks):
            with transaction.atomic():
                task = Task.objects.create(owner=owner, title=f"Task {n}", tags=["bench"])
                if with_event:
                    emit(
                        topic="bench-tasks",
                        type="bench.task.created.v1",
                        subject=task_subject(task),
                        data={"task": task_payload(task)},
                        user_id=owner.pk,
                    )
        return tasks / (time.perf_counter() - started)

    def drain() -> None:
        deadline = time.monotonic() + 60
        while OutboxEvent.objects.filter(published_at__isnull=True).exists():
            if time.monotonic() > deadline:
                print("  (outbox not drained in 60 s)")
                return
            time.sleep(0.05)

    create(with_event=False)  # warm up connections and caches
    without = create(with_event=False)
    # The runtime is not started: only the INSERT into the outbox is measured.
    with_outbox = create(with_event=True)
    runtime.start()
    drain()
    # Now the relay and the workers deliver each event while the writer goes on.
    with_delivery = create(with_event=True)
    drain()
    runtime.stop()

    def shown(rate: float) -> str:
        return f"{rate:.0f} tasks/s ({1000 / rate:.2f} ms each)"

    print(f"task writes: {tasks} single-row transactions each, one writer")
    print(f"  without event: {shown(without)}")
    print(f"  with outbox event, runtime idle: {shown(with_outbox)}")
    print(f"  with outbox event, delivered concurrently: {shown(with_delivery)}")
    print(f"  outbox cost per write: {1000 / with_outbox - 1000 / without:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writers", type=int, default=4)
    parser.add_argument("--events", type=int, default=250, help="events per writer")
    parser.add_argument("--tasks", type=int, default=1000, help="tasks per write mode")
    parser.add_argument("--rate", type=float, default=1000, help="paced events per second")
    parser.add_argument("--seconds", type=float, default=10, help="paced run length")
    parser.add_argument("--users", type=int, default=50, help="paced writers' users")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="todo-bench-") as tmp:
        setup_django(Path(tmp), event_runtime="local")
        bench_delivery(writers=args.writers, events=args.events)
        bench_paced(rate=args.rate, seconds=args.seconds, users=args.users, workdir=Path(tmp))
        bench_writes(tasks=args.tasks)


if __name__ == "__main__":
    main()
