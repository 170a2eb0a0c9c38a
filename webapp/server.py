"""The web server shared by `manage.py web` (containers, the chart) and `manage.py serve`.

uvicorn (uvloop, httptools) with WEB_CONCURRENCY worker processes under its supervisor, which
restarts a worker that dies; each worker runs webapp.asgi, where Django has WEB_THREADS
threads and a pool of at most DATABASE_POOL_MAX_SIZE connections. The supervising process
serves no request and holds no pooled connection: `serve` runs the event runtime there.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

WEB_APP = "webapp.asgi:application"
# Commands whose process supervises web workers (and so aggregates their metrics).
SERVING_COMMANDS = frozenset({"serve", "web"})
# Seconds a stopping worker lets requests in flight finish.
GRACEFUL_SHUTDOWN_SECONDS = 20


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


def run_web_server(*, host: str, port: int) -> None:
    """Serve until SIGINT or SIGTERM; returns once every worker has stopped."""
    import uvicorn
    from django.conf import settings
    from uvicorn.supervisors import Multiprocess

    config = uvicorn.Config(
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
    # Always through the supervisor, even for one worker: requests are then never served by
    # the process that started them, which may run the event runtime on its own connections.
    Multiprocess(config, sockets=[config.bind_socket()]).run()
