"""`manage.py web`: the production web server (containers and the Helm chart run this)."""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from webapp.server import run_web_server


class Command(BaseCommand):
    help = "Serve the API, admin and MCP tools: WEB_CONCURRENCY processes x WEB_THREADS threads."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))  # noqa: S104
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        run_web_server(host=host, port=port)
