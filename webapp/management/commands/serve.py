"""`manage.py serve`: the whole platform on one machine (what `make run` starts).

Migrates, runs the local event runtime (relay, subscribers of both workers, job timer) in this
process, and serves the web app from WEB_CONCURRENCY worker processes until Ctrl-C or SIGTERM.
The runtime has its own connections and threads here; the web workers only write to the
outbox, and the relay hears of their commits through PostgreSQL notifications.
"""

from __future__ import annotations

import os
import signal
from types import FrameType
from typing import Any

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from webapp.events.runtime import get_runtime
from webapp.server import run_web_server


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)


class Command(BaseCommand):
    help = "Migrate and serve the API, admin, event runtime and worker handlers."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
        parser.add_argument("--no-migrate", action="store_true")

    def handle(self, *args: Any, host: str, port: int, no_migrate: bool, **options: Any) -> None:
        # Until the web server takes over the signals: a stop during start-up must still run the
        # atexit hook that stops the embedded PostgreSQL (the default SIGTERM would skip it).
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _exit_cleanly)
        if not no_migrate:
            call_command("migrate", interactive=False, verbosity=1)
        # The web workers are spawned with this environment: they leave the runtime to us.
        os.environ["WEB_START_EVENT_RUNTIME"] = "false"
        runtime = get_runtime()
        runtime.start()
        try:
            self.stdout.write(f"Serving on http://{host}:{port} (Ctrl-C stops)")
            # Returns after SIGINT or SIGTERM, once the workers have finished their requests.
            run_web_server(host=host, port=port)
        finally:
            runtime.stop()
            self.stdout.write("Stopped.")
