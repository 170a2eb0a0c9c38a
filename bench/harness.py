"""What every benchmark shares: a throw-away embedded PostgreSQL with Django set up on it."""

from __future__ import annotations

import os
import re
import statistics
import subprocess
from collections.abc import Sequence
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


def pgbench_tps(command: Sequence[str]) -> float:
    """Run pgbench (`command`, its binary first) and return the transactions a second it saw."""
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    match = re.search(r"tps = ([\d.]+)", result.stdout)
    if not match:
        raise SystemExit(f"pgbench failed: {result.stdout}\n{result.stderr}")
    return float(match.group(1))
