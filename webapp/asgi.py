"""ASGI entry point for uvicorn: the Django app with its static files."""

from __future__ import annotations

import os

from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

from webapp.embedded_db import ensure_database_url

ensure_database_url()

application = ASGIStaticFilesHandler(get_asgi_application())
