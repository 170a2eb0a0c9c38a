"""The web server shared by `manage.py web` (containers, the chart) and `manage.py serve`.

uvicorn (uvloop, httptools) in WEB_CONCURRENCY worker processes; each runs webapp.asgi, where
Django has WEB_THREADS threads and a pool of at most DATABASE_POOL_MAX_SIZE connections. The
supervising process serves no request and holds no pooled connection (`serve` runs the event
runtime there); it restarts a worker that dies and stops them all on SIGINT or SIGTERM.

Each worker listens on a socket of its own, bound with SO_REUSEPORT, so the kernel spreads new
connections across the workers. With one shared socket the first worker to wake accepts every
waiting connection: a client with a few keep-alive connections (a load balancer, a load test)
then loads one worker while the others idle.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import signal
import socket
import threading
import time
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from multiprocessing.context import SpawnProcess

    from uvicorn import Config

logger = logging.getLogger(__name__)

WEB_APP = "webapp.asgi:application"
# Commands whose process supervises web workers (and so aggregates their metrics).
SERVING_COMMANDS = frozenset({"serve", "web"})
# Seconds a stopping worker lets requests in flight finish.
GRACEFUL_SHUTDOWN_SECONDS = 20
# uvicorn's exit code for a worker that could not start (bad app, bad settings).
STARTUP_FAILURE = 3
# How often a worker checks that its supervisor still lives.
PARENT_CHECK_SECONDS = 1.0


def prepare_metrics_directory(var_dir: Path) -> None:
    """Give prometheus_client one directory that every process of this server writes to.

    Must run before prometheus_client is imported: it picks its storage at import time. Each
    worker (and `serve`'s event runtime) keeps its counters in files there, and /metrics sums
    them, whichever worker answers the scrape. Emptied at start: the files of a previous run
    would otherwise be added to this one's.
    """
    path = Path(os.environ.get("PROMETHEUS_MULTIPROC_DIR") or var_dir / "prometheus")
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket bound to host:port that other workers' sockets may share (SO_REUSEPORT)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def web_config(*, host: str, port: int) -> Config:
    import uvicorn
    from django.conf import settings

    return uvicorn.Config(
        WEB_APP,
        host=host,
        port=port,
        workers=settings.WEB_CONCURRENCY,
        loop="uvloop",
        http="httptools",
        # On: it starts the MCP session manager behind /mcp (see chatbot_app/mcp_server.py).
        lifespan="on",
        # RequestLogMiddleware writes one line per request, with the request id and user.
        access_log=False,
        log_config=None,
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )


class WorkerSupervisor:
    """Runs one uvicorn worker per socket until told to stop; replaces workers that die."""

    def __init__(self, config: Config, sockets: list[socket.socket]) -> None:
        self.config = config
        self.sockets = sockets
        self.stopping = threading.Event()
        self.workers: list[SpawnProcess] = []

    def run(self) -> None:
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._stop)
        self.workers = [self._start(sock) for sock in self.sockets]
        logger.info("web workers started", extra={"workers": len(self.workers)})
        while not self.stopping.wait(0.5):
            for index, worker in enumerate(self.workers):
                if worker.is_alive():
                    continue
                if worker.exitcode == STARTUP_FAILURE:
                    logger.error("a web worker failed to start; stopping")
                    self.stopping.set()
                    break
                logger.warning("web worker died; starting another", extra={"pid": worker.pid})
                self.workers[index] = self._start(self.sockets[index])
        for worker in self.workers:
            if worker.is_alive() and worker.pid is not None:
                os.kill(worker.pid, signal.SIGTERM)  # uvicorn finishes requests in flight
        for worker in self.workers:
            worker.join(GRACEFUL_SHUTDOWN_SECONDS + 5)
            if worker.is_alive():
                worker.kill()
                worker.join()
        logger.info("web workers stopped")

    def _start(self, sock: socket.socket) -> SpawnProcess:
        from uvicorn._subprocess import get_subprocess

        target = functools.partial(run_worker, self.config, os.getpid())
        worker = get_subprocess(self.config, target=target, sockets=[sock])
        worker.start()
        return worker

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        self.stopping.set()


def run_worker(config: Config, parent: int, sockets: list[socket.socket]) -> None:
    """A web worker: uvicorn on its socket, stopping on its own should its supervisor die.

    A supervisor killed outright (SIGKILL) cannot stop its workers; without this they would
    keep the port and their database connections until someone found them.
    """
    import uvicorn

    def watch_parent() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        logger.warning("the supervising process is gone; stopping")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch_parent, name="parent-watch", daemon=True).start()
    uvicorn.Server(config).run(sockets=sockets)


def run_web_server(*, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM; returns once every worker has stopped."""
    from django.conf import settings

    from webapp.metrics import start_metrics_server

    config = web_config(host=host, port=port)
    sockets = [listening_socket(host, port) for _ in range(config.workers)]
    # The supervisor answers scrapes on a port of its own: it outlives any one worker and
    # reads every worker's counters (PROMETHEUS_MULTIPROC_DIR).
    metrics = (
        start_metrics_server(host=host, port=settings.METRICS_PORT)
        if settings.METRICS_PORT
        else None
    )
    try:
        WorkerSupervisor(config, sockets).run()
    finally:
        if metrics is not None:
            metrics.shutdown()
            metrics.server_close()
        for sock in sockets:
            sock.close()
