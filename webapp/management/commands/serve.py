"""`manage.py serve`: the whole platform in one process (what `make run` starts).

Migrates, starts the local event runtime (relay, subscribers of both workers, job timer) and
serves the ASGI app with uvicorn until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import os
import signal
from types import FrameType
from typing import Any

import uvicorn
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from webapp.events.runtime import get_runtime


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


class Command(BaseCommand):
    help = "Migrate and serve the API, admin, event runtime and worker handlers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-migrate", action="store_true")

    def handle(self, *args: Any, host: str, port: int, no_migrate: bool, **options: Any) -> None:
        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=1)
        runtime = get_runtime()
        runtime.start()
        # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal to the
        # handler it found. Left at the defaults, SIGTERM would kill the process on the spot,
        # skipping runtime.stop() and the atexit hook that stops the embedded PostgreSQL.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _exit_cleanly)
        try:
            # Lifespan on: it starts the MCP session manager behind /mcp (see webapp/asgi.py).
            server = uvicorn.Server(
                uvicorn.Config(
                    "webapp.asgi:application", host=host, port=port, lifespan="on", log_config=None
                )
            )
            self.stdout.write(f"Serving on http://{host}:{port} (Ctrl-C stops)")
            server.run()
        finally:
            runtime.stop()
            self.stdout.write("Stopped.")
