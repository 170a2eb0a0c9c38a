"""No process outlives its owner: a killed serve's PostgreSQL, `make run` on SIGTERM, the image."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.test_dockerfile import parse as parse_dockerfile
from tests.webapp.test_serve import ROOT, free_port, serve_env, wait_ready

MAKE = shutil.which("make")


def postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postmaster.pid").read_text().splitlines()[0])


def is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def exits_soon(pid: int, timeout: float = 10) -> bool:
    """pg_ctl stop returns once postmaster.pid is gone, a moment before the process is."""
    deadline = time.monotonic() + timeout
    while is_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)  # polling another process's exit, not test logic
    return True


@pytest.fixture
def var_dir(tmp_path: Path) -> Iterator[Path]:
    """A VAR_DIR whose PostgreSQL is stopped at the end, whatever the test left running."""
    path = tmp_path / "var"
    yield path
    pid_file = path / "pgdata" / "postmaster.pid"
    if pid_file.exists():
        pid = postmaster_pid(path / "pgdata")
        if is_alive(pid):
            os.kill(pid, signal.SIGQUIT)  # immediate shutdown: the test has already failed


def start_serve(env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Its own session, so the web workers a kill -9 orphans can be stopped with the group.
    return subprocess.Popen(
        [sys.executable, "manage.py", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def stop(process: subprocess.Popen[bytes], signum: signal.Signals) -> bytes:
    process.send_signal(signum)
    try:
        output, _ = process.communicate(timeout=60)
    finally:
        # Whatever the signal left behind in its session (PostgreSQL has a session of its own).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        if process.returncode is None:
            process.communicate()
    return output


@pytest.mark.slow
def test_a_serve_after_a_killed_one_stops_the_orphaned_postgres_when_it_stops(
    var_dir: Path,
) -> None:
    data_dir = var_dir / "pgdata"
    port = free_port()
    killed = start_serve(serve_env(var_dir, port))
    try:
        assert wait_ready(f"http://127.0.0.1:{port}/readyz", killed) == 200
        orphan = postmaster_pid(data_dir)
    finally:
        killed.kill()  # no atexit hook runs: PostgreSQL and its handle are left behind
        # Its web workers hold its output pipe open; they notice their supervisor is gone and
        # stop on their own (webapp/server.py), which closes the pipe.
        killed.communicate(timeout=60)
    assert is_alive(orphan), "the scenario needs PostgreSQL to outlive the killed serve"

    port = free_port()
    process = start_serve(serve_env(var_dir, port))
    try:
        assert wait_ready(f"http://127.0.0.1:{port}/readyz", process) == 200
    finally:
        output = stop(process, signal.SIGTERM)

    assert process.returncode == 0, output.decode()[-2000:]
    assert not (data_dir / "postmaster.pid").exists(), "PostgreSQL is still running"
    assert exits_soon(orphan), "the orphaned PostgreSQL is still running"


@pytest.mark.slow
@pytest.mark.skipif(MAKE is None, reason="needs make")
def test_sigterm_to_make_run_stops_serve_and_postgres(var_dir: Path) -> None:
    port = free_port()
    # -o: take the installed venv as up to date; BIN: this interpreter's, wherever it lives.
    assert MAKE is not None
    make = subprocess.Popen(  # noqa: S603 - the Makefile of this repository
        [
            MAKE,
            "-o",
            ".venv/.installed",
            "run",
            f"PORT={port}",
            f"BIN={Path(sys.executable).parent}",
        ],
        cwd=ROOT,
        env=serve_env(var_dir, port),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        assert wait_ready(f"http://127.0.0.1:{port}/readyz", make) == 200
    finally:
        # make passes SIGTERM on to its child, which the recipe's exec made serve itself.
        output = stop(make, signal.SIGTERM)

    assert b"Stopped." in output, output.decode()[-2000:]
    assert not (var_dir / "pgdata" / "postmaster.pid").exists(), "PostgreSQL is still running"


def test_the_image_refuses_to_start_without_database_url(tmp_path: Path) -> None:
    image_env = parse_dockerfile()[-1].env()
    assert image_env["TODO_EMBEDDED_ALLOWED"] == "false"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "TODO_EMBEDDED"}}
    env.update(TODO_EMBEDDED_ALLOWED="false", VAR_DIR=str(tmp_path / "var"))

    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert result.returncode != 0
    assert "DATABASE_URL is not set" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "var" / "pgdata").exists(), "an embedded database was started"
    assert not (tmp_path / "var" / "secrets").exists(), "a secret key was generated"
