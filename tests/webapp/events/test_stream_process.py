"""The event stream as `make run` serves it: `manage.py serve` in a process of its own (its own
embedded PostgreSQL, two web worker processes), real HTTP, a stop signal while streams are open.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import httpx
import pytest

from tests.webapp.events.test_stream import SseReader
from tests.webapp.test_serve import ROOT, free_port, serve_env, wait_ready

STREAMS = 4


def _account(base: str) -> str:
    account = {"username": "sasha", "password": "a-long-passphrase-42"}
    httpx.post(f"{base}/api/v1/auth/register/", json={**account, "email": "s@example.com"})
    pair = httpx.post(f"{base}/api/v1/auth/token/", json=account).json()
    return str(pair["access"])


@pytest.mark.slow
def test_serve_pushes_a_created_task_to_every_open_stream_and_ends_them_on_sigterm(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # A short directory: PostgreSQL's socket path must fit in 107 bytes.
    tmp_path = tmp_path_factory.mktemp("sse")
    port = free_port()
    env = serve_env(
        tmp_path / "var",
        port,
        WEB_CONCURRENCY="2",  # streams land on both workers: the fan-out crosses processes
        API_THROTTLE_USER="100000/minute",
        API_THROTTLE_AUTH="100000/minute",
    )
    base = f"http://127.0.0.1:{port}"
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve"], cwd=ROOT, env=env, stdout=log, stderr=log
        )
        try:
            assert wait_ready(f"{base}/readyz", process) == 200
            token = _account(base)
            headers = {"Authorization": f"Bearer {token}"}
            clients = [httpx.Client(timeout=15) for _ in range(STREAMS)]
            responses = [
                client.send(
                    client.build_request("GET", f"{base}/api/v1/events/stream/", headers=headers),
                    stream=True,
                )
                for client in clients
            ]
            readers = [SseReader(response) for response in responses]
            for reader in readers:
                assert reader.next_message().fields == {"retry": "2000"}

            created = httpx.post(
                f"{base}/api/v1/tasks/", json={"title": "Pay rent"}, headers=headers, timeout=15
            )
            assert created.status_code == 201, created.text
            received = [reader.events(1)[0] for reader in readers]

            # Each stream must end on its own once the server is told to stop, well inside
            # the server's 20 s grace for requests in flight.
            ended: list[float] = []

            def drain(reader: SseReader) -> None:
                reader.remaining_lines()
                ended.append(time.monotonic())

            drains = [threading.Thread(target=drain, args=(r,)) for r in readers]
            for thread in drains:
                thread.start()
            stopped_at = time.monotonic()
            process.send_signal(signal.SIGTERM)
            process.wait(60)
            for thread in drains:
                thread.join(30)
            for client in clients:
                client.close()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()

    for message in received:
        assert message.fields["event"] == "todo.task.created.v1"
        envelope = json.loads(message.fields["data"])
        assert envelope["data"]["task"]["title"] == "Pay rent"
        assert message.fields["id"] == envelope["sequence"]
    assert process.returncode == 0, (tmp_path / "serve.log").read_text()[-2000:]
    assert len(ended) == STREAMS
    assert max(ended) - stopped_at < 5
