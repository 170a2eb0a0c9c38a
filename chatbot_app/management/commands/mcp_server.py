"""`manage.py mcp_server`: the chatbot tools over stdio, for assistants that start a command.

The caller is the owner of the personal API token in TODO_API_TOKEN. Nothing but MCP messages
may go to stdout, so logs go to stderr.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

import anyio
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, close_old_connections

from chatbot_app.mcp_server import build_server
from chatbot_app.principal import CredentialRejected, local_credential, principal_for


class Command(BaseCommand):
    help = "Serve the chatbot tools (MCP) on stdin/stdout for the owner of TODO_API_TOKEN."

    def handle(self, *args: Any, **options: Any) -> None:
        credential = os.environ.get("TODO_API_TOKEN", "").strip()
        if not credential:
            raise CommandError("Set TODO_API_TOKEN to a personal API token (todo_pat_...).")
        try:
            principal_for(credential)
        except CredentialRejected as exc:
            raise CommandError(f"TODO_API_TOKEN is not usable: {exc}") from exc
        except DatabaseError as exc:
            raise CommandError(f"The database is not ready (run manage.py migrate): {exc}") from exc
        finally:
            close_old_connections()
        _logs_to_stderr()
        server = build_server()
        # The credential is checked again on every call: revoking it takes effect at once.
        with local_credential(credential):
            anyio.run(server.run_stdio_async)


def _logs_to_stderr() -> None:
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            handler.setStream(sys.stderr)
