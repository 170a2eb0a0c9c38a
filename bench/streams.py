"""Event stream benchmark: many open SSE streams, commit-to-received latency, memory per stream.

Run: `.venv/bin/python bench/streams.py [--streams 500 --users 100 --rate 50 --seconds 10]`.

It starts `manage.py serve` (as `make run` does: two web worker processes) on a throw-away
embedded PostgreSQL, then:

1. a writer process (Django on the same database, as another client's web worker would be)
   creates the users and mints their access tokens;
2. this process opens `--streams` streams (`GET /api/v1/events/stream/`, `--streams/--users`
   per user: a user's tabs and devices) over plain asyncio sockets, and measures the web
   workers' resident memory before and after;
3. the writer commits `--rate` events a second for `--seconds`, each for a random user, one
   transaction each through `outbox.emit`, and records when each commit returned;
4. every stream records when each event arrived; the figures are arrival minus commit
   (CLOCK_MONOTONIC, the same clock in both processes), over every (stream, event) pair.

It checks that each stream received exactly its user's events, each once, in order, and
prints p50/p95/p99/max latency, missing and duplicated deliveries, the memory per stream and
the connections the web workers held. Beside it, the physical limit in the same run: the
same number of raw LISTEN/NOTIFY round trips (a psycopg listener, a notifying commit) on the
same database.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from api_load import free_port, platform
from harness import percentile

STREAM_PATH = "/api/v1/events/stream/"
BENCH_TOPIC = "bench-streams"
BENCH_TYPE = "bench.stream.tick.v1"


def database_url(workdir: Path) -> str:
    return f"postgresql://postgres@/todo?host={workdir / 'var' / 'pgdata'}"


def writer(workdir: str, users: int, control: Any) -> None:
    """The other client: creates users, then commits events when told to."""
    os.environ.update(
        VAR_DIR=str(Path(workdir) / "var"),  # the same generated secret key as the server
        TODO_EMBEDDED="true",
        DATABASE_URL=database_url(Path(workdir)),
        EVENT_RUNTIME="local",  # never started here: a commit wakes the server's relay
        LOG_LEVEL="WARNING",
        LOG_JSON="false",
        DJANGO_SETTINGS_MODULE="webapp.settings",
    )
    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.db import transaction
    from rest_framework_simplejwt.tokens import RefreshToken

    from webapp.events.outbox import emit

    accounts = []
    for n in range(users):
        user = User.objects.create(username=f"bench-{n}", email=f"bench-{n}@example.com")
        accounts.append((user.pk, str(RefreshToken.for_user(user).access_token)))
    control.send(accounts)
    rate, seconds = control.recv()
    rng = random.Random(7)
    committed: list[tuple[int, int, float]] = []  # (user id, sequence, commit time)
    start = time.monotonic()
    for n in range(int(rate * seconds)):
        # Paced: event n commits at start + n/rate (or as soon as possible after).
        delay = start + n / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        uid = accounts[rng.randrange(users)][0]
        with transaction.atomic():
            event = emit(
                topic=BENCH_TOPIC, type=BENCH_TYPE, subject=f"bench/{n}", data={"n": n},
                user_id=uid,
            )  # fmt: skip
        committed.append((uid, event.sequence, time.monotonic()))
    control.send(committed)


class StreamClient:
    """One SSE stream over a raw socket: HTTP/1.1, chunked body, `id:` lines timed on arrival."""

    def __init__(self, uid: int) -> None:
        self.uid = uid
        self.received: list[tuple[int, float]] = []
        self.opened = asyncio.Event()
        self.status = 0

    async def run(self, host: str, port: int, token: str, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(
            f"GET {STREAM_PATH} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n".encode()
        )
        await writer.drain()
        head = await reader.readuntil(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        if self.status != 200:
            self.opened.set()
            writer.close()
            return
        pending = b""
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while True:
                size_line = asyncio.ensure_future(reader.readline())
                done, _ = await asyncio.wait({size_line, stopping}, return_when="FIRST_COMPLETED")
                if stopping in done:
                    size_line.cancel()
                    return
                size = int(size_line.result().strip() or b"0", 16)
                if size == 0:
                    return
                chunk = await reader.readexactly(size + 2)
                now = time.monotonic()
                pending += chunk[:-2]
                *frames, pending = pending.split(b"\n\n")
                for frame in frames:
                    for line in frame.split(b"\n"):
                        if line.startswith(b"id: "):
                            self.received.append((int(line[4:]), now))
                        elif line.startswith(b"retry:"):
                            self.opened.set()
        finally:
            stopping.cancel()
            writer.close()


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


def cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def web_workers(serve_pid: int) -> list[int]:
    """The uvicorn worker processes of `manage.py serve` (its spawned children)."""
    return [
        pid
        for pid in children(serve_pid)
        if "multiprocessing" in cmdline(pid) and "resource_tracker" not in cmdline(pid)
    ]


def rss(pids: list[int]) -> int:
    """Resident memory of `pids`, in bytes."""
    total = 0
    for pid in pids:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1]) * 1024
    return total


def raw_notify_latency(workdir: Path, count: int) -> list[float]:
    """The floor: a notifying commit to a waiting psycopg listener's receipt, `count` times."""
    import psycopg

    url = database_url(workdir)
    received: list[float] = []
    with (
        psycopg.connect(url, autocommit=True) as listener,
        psycopg.connect(url, autocommit=True) as sender,
    ):
        listener.execute("LISTEN bench_floor")

        def listen() -> None:
            for _ in listener.notifies(timeout=10, stop_after=count):
                received.append(time.monotonic())

        thread = threading.Thread(target=listen)
        thread.start()
        committed = []
        for n in range(count):
            sender.execute("SELECT pg_notify('bench_floor', %s)", [str(n)])
            committed.append(time.monotonic())
            time.sleep(0.002)  # one at a time: the listener waits on its socket for each
        thread.join()
    return [at - sent for at, sent in zip(received, committed, strict=True)]


async def open_streams(
    port: int, accounts: list[tuple[int, str]], streams: int, stop: asyncio.Event
) -> tuple[list[StreamClient], list[asyncio.Task[None]]]:
    clients = [StreamClient(accounts[n % len(accounts)][0]) for n in range(streams)]
    tokens = dict(accounts)
    tasks = []
    for client in clients:
        tasks.append(asyncio.create_task(client.run("127.0.0.1", port, tokens[client.uid], stop)))
        await asyncio.sleep(0)  # let it connect: a burst of 500 SYNs overflows the backlog
    await asyncio.wait_for(asyncio.gather(*(c.opened.wait() for c in clients)), 60)
    return clients, tasks


@contextmanager
def served(workdir: Path, port: int, streams: int) -> Iterator[str]:
    os.environ.update(
        EVENT_STREAM_MAX=str(streams + 100),
        EVENT_STREAM_MAX_PER_USER=str(streams),
    )
    with platform(workdir, port) as base:
        yield base


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--streams", type=int, default=500)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--rate", type=float, default=50, help="events committed a second")
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-streams-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        with served(workdir, port, args.streams):
            (serve_pid,) = [pid for pid in children(os.getpid()) if "serve" in cmdline(pid)]
            asyncio.run(run(workdir, port, serve_pid, args))


async def run(workdir: Path, port: int, serve_pid: int, args: Any) -> None:
    context = multiprocessing.get_context("spawn")
    parent_end, child_end = context.Pipe()
    process = context.Process(target=writer, args=(str(workdir), args.users, child_end))
    process.start()
    accounts: list[tuple[int, str]] = await asyncio.to_thread(parent_end.recv)

    workers = web_workers(serve_pid)
    before = rss(workers)
    stop = asyncio.Event()
    opened_at = time.monotonic()
    clients, tasks = await open_streams(port, accounts, args.streams, stop)
    opened_in = time.monotonic() - opened_at
    await asyncio.sleep(1)  # let the workers settle after the burst of connections
    after = rss(workers)
    refused = sum(1 for c in clients if c.status != 200)

    parent_end.send((args.rate, args.seconds))
    committed: list[tuple[int, int, float]] = await asyncio.to_thread(parent_end.recv)
    await asyncio.to_thread(process.join)  # never block the loop that timestamps arrivals
    expected: dict[int, list[int]] = {}
    for uid, sequence, _ in committed:
        expected.setdefault(uid, []).append(sequence)
    total = sum(len(expected.get(c.uid, [])) for c in clients)
    deadline = time.monotonic() + 10
    while sum(len(c.received) for c in clients) < total and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    connections = count_connections(workdir)
    stop.set()
    await asyncio.gather(*tasks, return_exceptions=True)

    commit_time = {sequence: at for _, sequence, at in committed}
    latencies: list[float] = []
    missing = duplicated = out_of_order = 0
    for client in clients:
        got = [sequence for sequence, _ in client.received]
        want = expected.get(client.uid, [])
        missing += len(set(want) - set(got))
        duplicated += len(got) - len(set(got))
        out_of_order += int(got != sorted(got))
        latencies += [(at - commit_time[seq]) * 1000 for seq, at in client.received]
    order = {seq: n for n, (_, seq, _) in enumerate(committed)}
    worst = sorted(
        ((at - commit_time[seq]) * 1000, order[seq]) for c in clients for seq, at in c.received
    )[-5:]
    print("worst (ms, event index):", [(round(ms), n) for ms, n in worst])
    floor = [s * 1000 for s in raw_notify_latency(workdir, 500)]

    print(f"load average at the end (other work on the machine): {os.getloadavg()[0]:.1f}")
    print(
        f"streams {args.streams} ({args.users} users), opened in {opened_in:.1f} s, "
        f"refused {refused}"
    )
    print(
        f"writes: {len(committed)} events at {args.rate:g}/s for {args.seconds:g} s, "
        f"{total} deliveries expected, {len(latencies)} received"
    )
    print(
        "commit-to-received ms: "
        f"p50 {percentile(latencies, 50):.1f}  p95 {percentile(latencies, 95):.1f}  "
        f"p99 {percentile(latencies, 99):.1f}  max {max(latencies):.1f}"
    )
    print(f"missing {missing}, duplicated {duplicated}, streams out of order {out_of_order}")
    print(
        f"memory: web workers {before / 2**20:.0f} MiB -> {after / 2**20:.0f} MiB with the "
        f"streams open: {(after - before) / args.streams / 1024:.1f} KiB per stream"
    )
    print(f"connections held by the web workers with the streams open: {connections}")
    print(
        "floor, raw LISTEN/NOTIFY on the same database (commit to listener) ms: "
        f"p50 {percentile(floor, 50):.2f}  p95 {percentile(floor, 95):.2f}  "
        f"p99 {percentile(floor, 99):.2f}"
    )
    print(json.dumps({"p95_ms": round(percentile(latencies, 95), 1), "missing": missing,
                      "duplicated": duplicated}))  # fmt: skip


def count_connections(workdir: Path) -> dict[str, int]:
    import psycopg

    with psycopg.connect(database_url(workdir), autocommit=True) as conn:
        rows = conn.execute(
            "SELECT application_name, count(*) FROM pg_stat_activity "
            "WHERE application_name LIKE 'todo-web%%' GROUP BY 1 ORDER BY 1"
        ).fetchall()
    return {str(name): int(count) for name, count in rows}


if __name__ == "__main__":
    main()
