"""Reminder benchmark: fire lag and delivery throughput of the local runtime.

Run: `.venv/bin/python bench/reminders.py [--reminders N --users U --spread S]`. Starts a
throw-away embedded PostgreSQL in a temporary directory and an SMTP sink (aiosmtpd, in a process
of its own as a real mail server would be, so it does not compete for this one's GIL), then:

- writes N tasks with one reminder each (email and in-app) for U users, all firing within one
  window of S seconds (default 60: "due in the same minute") that opens once the set-up is
  done. The rows and their jobs are bulk-inserted exactly as the notifications worker leaves
  them after consuming the created events: the benchmark measures firing, not task creation;
- starts the local runtime (job timer, relay, delivery threads) and waits until every
  reminder is settled.

Prints fire lag (when the job claimed the reminder minus its fire time) p50/p95/p99/max,
reminders fired per second, deliveries per second and the outcome counts. The goal is a p99
fire lag under 2 seconds.
"""

from __future__ import annotations

import argparse
import socket
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import percentile, setup_django

# The window opens this long after the set-up begins: a few seconds plus the time seeding
# needs (well under a millisecond per reminder here), so that no reminder is already due when
# the runtime starts and the lag measures firing alone.
LEAD_SECONDS = 5.0
SEED_SECONDS_PER_REMINDER = 0.0015


class Sink:
    """Counts messages; the SMTP conversation itself is real."""

    def __init__(self, received: Any) -> None:
        self.received = received

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        with self.received.get_lock():
            self.received.value += 1
        return "250 OK"


def run_sink(port: int, received: Any, stop: Any) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(Sink(received), hostname="127.0.0.1", port=port)
    controller.start()
    stop.wait()
    controller.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def seed(*, reminders: int, users: int, spread: float, channels: list[str]) -> Any:
    """Tasks, reminders and their jobs, as scheduling leaves them; returns the window start."""
    import random

    from django.contrib.auth.models import User
    from django.db import transaction
    from django.utils import timezone

    from notifications_app.models import Reminder, ReminderJob, reminder_job_name
    from tasks_app.models import Task
    from webapp.events.models import ScheduledJob

    owners = [
        User.objects.create_user(f"bench-{n}", email=f"bench-{n}@example.com") for n in range(users)
    ]
    window = timezone.now() + timedelta(
        seconds=LEAD_SECONDS + SEED_SECONDS_PER_REMINDER * reminders
    )
    rng = random.Random(42)
    with transaction.atomic():
        for start in range(0, reminders, 2000):
            count = min(2000, reminders - start)
            fire_times = [window + timedelta(seconds=rng.uniform(0, spread)) for _ in range(count)]
            tasks = Task.objects.bulk_create(
                Task(
                    owner=owners[(start + n) % users],
                    title=f"Bench task {start + n}",
                    due_at=fire + timedelta(minutes=15),
                )
                for n, fire in enumerate(fire_times)
            )
            rows = Reminder.objects.bulk_create(
                Reminder(
                    task=task,
                    before=timedelta(minutes=15),
                    channels=channels,
                    fire_at=fire,
                )
                for task, fire in zip(tasks, fire_times, strict=True)
            )
            timed = list(zip(rows, fire_times, strict=True))
            ScheduledJob.objects.bulk_create(
                ScheduledJob(
                    name=reminder_job_name(r.pk),
                    due_at=fire,
                    data={
                        "reminder_id": str(r.pk),
                        "task_id": str(r.task_id),
                        "fire_at": fire.isoformat(),
                    },
                )
                for r, fire in timed
            )
            ReminderJob.objects.bulk_create(
                ReminderJob(
                    name=reminder_job_name(r.pk), task_id=r.task_id, reminder_id=r.pk, due_at=fire
                )
                for r, fire in timed
            )
    return window


def run(*, reminders: int, users: int, spread: float, timeout: float, channels: list[str]) -> None:
    from django.db.models import Count, Max, Min
    from django.utils import timezone

    from notifications_app.delivery import stop_threads
    from notifications_app.models import Notification, Reminder, ReminderStatus
    from webapp.events.runtime import get_runtime

    seeded = time.perf_counter()
    window = seed(reminders=reminders, users=users, spread=spread, channels=channels)
    print(f"seeded {reminders} reminders for {users} users in {time.perf_counter() - seeded:.1f} s")
    lead = (window - timezone.now()).total_seconds()
    if lead <= 0:
        sys.exit(f"seeding overran the lead time by {-lead:.1f} s; raise SEED_SECONDS_PER_REMINDER")
    print(f"the window opens {lead:.1f} s after the runtime starts")
    runtime = get_runtime()
    runtime.start()
    deadline = time.monotonic() + lead + spread + timeout
    try:
        while time.monotonic() < deadline:
            waiting = Reminder.objects.filter(status=ReminderStatus.SCHEDULED).count()
            if waiting == 0:
                break
            time.sleep(1.0)
        else:
            print(f"timed out with {waiting} reminders not settled")
    finally:
        runtime.stop()
        # Before the database goes away with the temporary directory.
        stop_threads(drop_queued=True)

    fired = [
        (fire_at, fired_at)
        for fire_at, fired_at in Reminder.objects.filter(fired_at__isnull=False).values_list(
            "fire_at", "fired_at"
        )
        if fire_at is not None and fired_at is not None
    ]
    lags = [(fired_at - fire_at).total_seconds() for fire_at, fired_at in fired]
    print(f"fired {len(fired)} of {reminders} reminders due within {spread:.0f} s")
    if len(lags) >= 2:
        print(
            "fire lag: "
            f"p50 {percentile(lags, 50) * 1000:.0f} ms, p95 {percentile(lags, 95) * 1000:.0f} ms, "
            f"p99 {percentile(lags, 99) * 1000:.0f} ms, max {max(lags) * 1000:.0f} ms "
            f"(goal: p99 < 2000 ms)"
        )
        slices: dict[int, float] = {}
        for fire_at, fired_at in fired:
            index = int((fire_at - window).total_seconds() // 10)
            slices[index] = max(slices.get(index, 0.0), (fired_at - fire_at).total_seconds())
        worst = " ".join(f"{slices[index] * 1000:.0f}" for index in sorted(slices))
        print(f"max lag per 10 s of the window (ms): {worst}")
        first, last = min(f for _, f in fired), max(f for _, f in fired)
        span = max((last - first).total_seconds(), 1e-6)
        print(f"fired: {len(fired) / span:.0f} reminders/s over {span:.1f} s")
    sent = Notification.objects.filter(status="sent").aggregate(
        n=Count("id"), first=Min("created_at"), last=Max("sent_at")
    )
    if sent["n"]:
        span = max((sent["last"] - max(sent["first"], window)).total_seconds(), 1e-6)
        print(f"deliveries: {sent['n']} sent, {sent['n'] / span:.0f} deliveries/s")
    by_status = {
        f"{channel}/{status}": n
        for channel, status, n in Notification.objects.values_list("channel", "status")
        .annotate(n=Count("id"))
        .order_by("channel", "status")
    }
    outcomes = dict(Reminder.objects.values_list("status").annotate(n=Count("id")))
    print(f"notification outcomes: {by_status}; reminder outcomes: {outcomes}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reminders", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--spread", type=float, default=60.0, help="seconds the fire times span")
    parser.add_argument(
        "--channels", default="email,in_app", help="comma list of channels per reminder"
    )
    parser.add_argument("--timeout", type=float, default=120.0, help="extra seconds to settle")
    args = parser.parse_args()

    import multiprocessing

    port = free_port()
    received = multiprocessing.Value("i", 0)
    stop = multiprocessing.Event()
    sink = multiprocessing.Process(target=run_sink, args=(port, received, stop), daemon=True)
    sink.start()
    try:
        with tempfile.TemporaryDirectory(prefix="todo-bench-") as tmp:
            setup_django(
                Path(tmp),
                event_runtime="local",
                env={"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_TLS": "none"},
            )
            run(
                reminders=args.reminders,
                users=args.users,
                spread=args.spread,
                timeout=args.timeout,
                channels=args.channels.split(","),
            )
            print(f"SMTP sink received {received.value} messages")
    finally:
        stop.set()
        sink.join(10)


if __name__ == "__main__":
    main()
