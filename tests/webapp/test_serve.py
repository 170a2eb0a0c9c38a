"""`manage.py serve` (what `make run` starts) comes up ready and Ctrl-C stops it and PostgreSQL."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# What this test process's own settings put in its environment (importing webapp.asgi sets
# the web workers' pool on): a server started from here must choose for itself.
NOT_INHERITED = frozenset(
    {"DATABASE_URL", "EVENT_RUNTIME", "DATABASE_POOL", "DATABASE_APPLICATION_NAME",
     "PROMETHEUS_MULTIPROC_DIR"}
)  # fmt: skip


def serve_env(var_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment for a `manage.py serve` of its own on `port`, data under `var_dir`."""
    env = {k: v for k, v in os.environ.items() if k not in NOT_INHERITED}
    env.update(VAR_DIR=str(var_dir), HOST="127.0.0.1", PORT=str(port), **extra)
    return env


@contextmanager
def serving(workdir: Path, **extra: str) -> Iterator[str]:
    """`manage.py serve` of its own (database under `workdir`), ready; yields its base URL and
    stops it (SIGTERM) afterwards. `extra` adds settings to its environment."""
    port = free_port()
    env = serve_env(workdir / "var", port, **extra)
    with (workdir / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve"], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        base = f"http://127.0.0.1:{port}"
        try:
            assert wait_ready(f"{base}/readyz", process) == 200
            yield base
        finally:
            process.terminate()
            process.wait(60)


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = 90) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited early with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (local URL)
                status: int = response.status
                return status
        except OSError:
            time.sleep(0.3)  # polling a child process start-up, not test logic
    raise AssertionError("serve did not become ready")


@pytest.mark.slow
@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_serve_comes_up_ready_and_a_stop_signal_stops_it_and_postgres(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    port = free_port()
    env = serve_env(tmp_path / "var", port)
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert wait_ready(f"http://127.0.0.1:{port}/readyz", process) == 200
        pid_file = tmp_path / "var" / "pgdata" / "postmaster.pid"
        assert pid_file.exists()

        process.send_signal(stop_signal)
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 0, output.decode()[-2000:]
    assert b"Traceback" not in output and output.rstrip().endswith(b"Stopped.")
    assert not pid_file.exists(), "PostgreSQL is still running"
