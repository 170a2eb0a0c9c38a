"""Task list latency over 100,000 tasks of one user, through the real filter and selector code.

Seeds a throw-away embedded PostgreSQL, runs the list queries clients send most and prints,
for each, the median time of a page (COUNT plus the first 50 rows, as the API does) and the
top of the EXPLAIN plan with the scans it uses. Run: `.venv/bin/python bench/task_list.py`.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import setup_django  # noqa: E402  (bench/ is on sys.path when run)

TASKS = int(os.environ.get("BENCH_TASKS", "100000"))
OTHER_USERS_TASKS = 20_000  # so the owner filter has something to leave out
RUNS = int(os.environ.get("BENCH_RUNS", "15"))
PAGE = 50
WORDS = [
    "invoice",
    "report",
    "meeting",
    "call",
    "email",
    "plan",
    "review",
    "budget",
    "design",
    "deploy",
    "fix",
    "write",
    "read",
    "book",
    "order",
    "pay",
    "renew",
    "clean",
    "cook",
    "visit",
    "train",
    "study",
    "draft",
    "send",
    "check",
    "update",
    "prepare",
]
TAGS = ["home", "work", "bills", "health", "family", "errand", "garden", "car", "study", "later"]


def seed(owner_id: int, other_id: int) -> None:
    """COPY rows in (the search-vector trigger still runs for each), then ANALYZE."""
    from django.db import connection

    rng = random.Random(42)
    now = datetime.now(UTC)
    columns = (
        "id, owner_id, title, description, status, priority, tags, due_at, completed_at, "
        "is_exception, created_at, updated_at"
    )
    with connection.cursor() as cursor:
        raw = cursor.connection  # psycopg 3 connection: COPY is far faster than INSERTs
        with raw.cursor() as copy_cursor:
            sql = f"COPY tasks_app_task ({columns}) FROM STDIN"
            with copy_cursor.copy(sql) as copy:
                for i in range(TASKS + OTHER_USERS_TASKS):
                    owner = owner_id if i < TASKS else other_id
                    created = now - timedelta(minutes=rng.randint(0, 500_000))
                    due = None
                    if rng.random() < 0.7:
                        due = now + timedelta(hours=rng.randint(-24 * 60, 24 * 120))
                    done = rng.random() < 0.4
                    title = " ".join(rng.sample(WORDS, 3)) + f" #{i}"
                    description = " ".join(rng.choices(WORDS, k=rng.randint(0, 25)))
                    tags = "{" + ",".join(rng.sample(TAGS, rng.randint(0, 3))) + "}"
                    copy.write_row(
                        (
                            _uuid(rng),
                            owner,
                            title,
                            description,
                            "completed" if done else "pending",
                            rng.choices([1, 2, 3, 4], weights=[3, 5, 2, 1])[0],
                            tags,
                            due,
                            created + timedelta(hours=1) if done else None,
                            False,
                            created,
                            created,
                        )
                    )
    # Autovacuum would get here on its own; the visibility map lets COUNT use index-only scans.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE tasks_app_task")


def _uuid(rng: random.Random) -> str:
    import uuid

    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def queries() -> list[tuple[str, dict[str, str]]]:
    return [
        ("default list", {}),
        ("status+priority", {"status": "pending", "priority": "high,urgent"}),
        ("tag filter", {"tags": "garden"}),
        ("overdue", {"overdue": "true"}),
        ("search", {"search": "invoice budget"}),
        ("order by due_at", {"ordering": "due_at"}),
        ("due window", {"due_after": "2020-01-01T00:00:00Z", "due_before": "2100-01-01T00:00:00Z"}),
    ]


def filtered(user: Any, params: dict[str, str]) -> Any:
    from django.http import QueryDict

    from tasks_app.filters import TaskFilter
    from tasks_app.selectors import task_queryset

    query = QueryDict(mutable=True)
    query.update(params)
    task_filter = TaskFilter(query, queryset=task_queryset(user=user))
    if not task_filter.is_valid():
        raise SystemExit(f"invalid bench query {params}: {task_filter.errors}")
    return task_filter.qs


def plan_summary(queryset: Any) -> tuple[str, str]:
    import json

    plan = json.loads(queryset[:PAGE].explain(format="json"))[0]["Plan"]
    scans: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        kind = node["Node Type"]
        if "Scan" in kind:
            index = node.get("Index Name")
            scans.append(f"{kind} on {index}" if index else kind)
        for child in node.get("Plans", []):
            walk(child)

    walk(plan)
    return plan["Node Type"], "; ".join(dict.fromkeys(scans))


def timed_page(queryset: Any) -> tuple[float, float]:
    """Milliseconds for the COUNT and for the first page, the two queries of a list request."""
    started = time.perf_counter()
    queryset.count()
    counted = time.perf_counter()
    list(queryset[:PAGE])
    return (counted - started) * 1000, (time.perf_counter() - counted) * 1000


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="todo-bench-") as tmp:
        setup_django(Path(tmp), event_runtime="inline")
        from django.contrib.auth.models import User

        owner = User.objects.create_user(username="bench", password=None)
        other = User.objects.create_user(username="other", password=None)
        started = time.perf_counter()
        seed(owner.pk, other.pk)
        print(
            f"seeded {TASKS:,} tasks (+{OTHER_USERS_TASKS:,} of another user) "
            f"in {time.perf_counter() - started:.1f} s"
        )
        print(f"median of {RUNS} runs, milliseconds")
        print(f"{'query':<16} {'rows':>7} {'count':>7} {'page':>7} {'total':>7}  page plan / scans")
        for name, params in queries():
            queryset = filtered(owner, params)
            timed_page(queryset)  # warm the cache: steady state, not first touch
            samples = [timed_page(queryset) for _ in range(RUNS)]
            count = statistics.median(c for c, _ in samples)
            page = statistics.median(p for _, p in samples)
            total = statistics.median(c + p for c, p in samples)
            top, scans = plan_summary(queryset)
            rows = queryset.count()
            print(f"{name:<16} {rows:>7} {count:>7.1f} {page:>7.1f} {total:>7.1f}  {top} / {scans}")


if __name__ == "__main__":
    main()
