"""What every benchmark shares: a throw-away embedded PostgreSQL with Django set up on it."""

from __future__ import annotations

import os
import statistics
from pathlib import Path


def setup_django(workdir: Path, *, event_runtime: str, env: dict[str, str] | None = None) -> None:
    """Start a PostgreSQL whose data lives (and dies) in `workdir`, set Django up, migrate.

    `env` adds settings (e.g. SMTP_HOST) before Django reads them.
    """
    os.environ["VAR_DIR"] = str(workdir / "var")
    os.environ["TODO_EMBEDDED"] = "true"
    os.environ["EVENT_RUNTIME"] = event_runtime
    os.environ.update(env or {})
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("LOG_JSON", "false")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webapp.settings")
    from webapp.embedded_db import start_server

    os.environ["DATABASE_URL"] = start_server(workdir / "pgdata", delete_on_exit=True)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def percentile(values: list[float], pct: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]
