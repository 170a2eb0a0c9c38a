#!/usr/bin/env python
"""Django's command-line utility; starts the embedded PostgreSQL when no DATABASE_URL is set."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    from django.core.exceptions import ImproperlyConfigured

    from webapp.embedded_db import ensure_database_url, var_dir
    from webapp.server import SERVING_COMMANDS, prepare_metrics_directory

    try:
        ensure_database_url()
    except ImproperlyConfigured as exc:
        sys.exit(f"Configuration error: {exc}")
    if sys.argv[1:2] and sys.argv[1] in SERVING_COMMANDS:
        prepare_metrics_directory(var_dir())
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
