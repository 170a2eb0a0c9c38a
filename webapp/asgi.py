"""ASGI entry point for uvicorn: Django with its static files, and the MCP tools at /mcp."""

from __future__ import annotations

import os

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

from webapp.embedded_db import ensure_database_url

ensure_database_url()

django_application = ASGIStaticFilesHandler(get_asgi_application())

# Imported once Django is set up: the tools use the ORM and the REST serializers.
from chatbot_app.mcp_server import build_asgi_application  # noqa: E402
from webapp.events.runtime import get_runtime  # noqa: E402

application = build_asgi_application(django_application)

# The web process publishes its outbox rows itself (relay thread), whether it was started by
# `manage.py serve` or by a plain `uvicorn webapp.asgi:application` in a container; start()
# is idempotent, so serve's own call is harmless.
get_runtime().start()
