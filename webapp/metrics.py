"""/metrics: one page for the whole server, whichever of its processes answers the scrape.

With METRICS_PORT set (the chart), the supervising web process serves the page on that port
of its own, which the ServiceMonitor scrapes and the ingress never routes, and the app port
answers 404. With METRICS_PORT 0 (`make run` on 127.0.0.1) the app port serves it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from django.conf import settings
from django.db import connections
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector

from webapp.events.metrics import OutboxCollector

logger = logging.getLogger(__name__)


def scrape_registry() -> CollectorRegistry:
    """The process's own registry, or, under a multi-process server, every process's files.

    The outbox gauges are read from the database at scrape time, so they join the sum as they
    are rather than once per process.
    """
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(OutboxCollector())
    return registry


@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    if settings.METRICS_PORT:
        raise Http404("metrics are served on the metrics port")
    return HttpResponse(generate_latest(scrape_registry()), content_type=CONTENT_TYPE_LATEST)


class _MetricsHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.split("?")[0] != "/metrics":
            self._send(404, b"not found\n", "text/plain")
            return
        try:
            body = generate_latest(scrape_registry())
        finally:
            # A scrape runs on a thread of its own; leave no connection behind it.
            connections.close_all()
        self._send(200, body, CONTENT_TYPE_LATEST)

    def _send(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        return  # a scrape every 30 s would drown the log


class _MetricsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int]) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _MetricsHandler)


def start_metrics_server(*, host: str, port: int) -> ThreadingHTTPServer:
    """Serve /metrics on host:port from a daemon thread; `shutdown()` the result to stop."""
    server = _MetricsServer((host, port))
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    logger.info("metrics served", extra={"port": server.server_address[1]})
    return server
