"""WSGI entry point: Django with its static files. The web server runs it on a fixed pool of
threads inside the ASGI app (webapp/asgi.py); any WSGI server can also serve it alone."""

from __future__ import annotations

import os

from django.contrib.staticfiles.handlers import StaticFilesHandler
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")

from webapp.embedded_db import ensure_database_url

ensure_database_url()

application = StaticFilesHandler(get_wsgi_application())
