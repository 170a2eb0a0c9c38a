"""The base of the worker management commands: one Dapr app-id each, the same options."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class WorkerCommand(BaseCommand):
    """Serves `app_id`'s gRPC app callback and its HTTP health/metrics port until SIGTERM."""

    app_id: str

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--port",
            type=int,
            default=int(os.environ.get("APP_PORT", "50051")),
            help="gRPC app-callback port daprd calls (env APP_PORT, default 50051)",
        )
        parser.add_argument(
            "--http-port",
            type=int,
            default=int(os.environ.get("WORKER_HTTP_PORT", "9090")),
            help="/healthz, /readyz and /metrics (env WORKER_HTTP_PORT, default 9090)",
        )

    def handle(self, *args: Any, port: int, http_port: int, **options: Any) -> None:
        from webapp.events.worker import run_worker

        run_worker(app_id=self.app_id, grpc_port=port, http_port=http_port)
