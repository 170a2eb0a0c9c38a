"""`manage.py run_recurrence_worker`: the Dapr app (app-id `recurrence`).

Serves the gRPC app callback daprd calls: the task-operations and task-modifications
subscriptions that create the next instance when one is completed and keep each series' job
scheduled, and the `series-` jobs that materialise instances as they come due. SIGTERM
finishes the item in hand, then exits.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

APP_ID = "recurrence"


class Command(BaseCommand):
    help = "Run the recurrence worker: series instances and series jobs behind Dapr."

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

        run_worker(app_id=APP_ID, grpc_port=port, http_port=http_port)
