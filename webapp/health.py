"""Liveness and readiness probes.

/healthz answers while the process can serve at all; /readyz only when it can do useful work:
the database answers, every migration is applied and the event runtime is healthy.
"""

from __future__ import annotations

import logging

from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from webapp.events.runtime import get_runtime

logger = logging.getLogger(__name__)

# Loading the migration graph reads every migration file; once all are applied they stay so
# for the life of the process, so later probes only ping the database.
_migrations_applied = False


def reset_migration_cache() -> None:
    global _migrations_applied
    _migrations_applied = False


def database_connection() -> BaseDatabaseWrapper:
    """The connection readiness is judged on (a function so a test can point it elsewhere)."""
    return connections["default"]


def connection_problem(connection: BaseDatabaseWrapper) -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any driver error means "not ready"
        logger.warning("readiness: database unreachable", extra={"error": type(exc).__name__})
        return f"database unreachable: {type(exc).__name__}"
    return None


def migrations_problem(connection: BaseDatabaseWrapper) -> str | None:
    global _migrations_applied
    if _migrations_applied:
        return None
    executor = MigrationExecutor(connection)
    pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if pending:
        names = ", ".join(f"{m.app_label}.{m.name}" for m, _ in pending[:5])
        return f"migrations pending: {names}"
    _migrations_applied = True
    return None


def database_problem() -> str | None:
    connection = database_connection()
    return connection_problem(connection) or migrations_problem(connection)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@require_GET
def readyz(request: HttpRequest) -> JsonResponse:
    database = database_problem()
    events = get_runtime().health_problem()
    ready = database is None and events is None
    return JsonResponse(
        {
            "status": "ok" if ready else "unavailable",
            "checks": {"database": database or "ok", "events": events or "ok"},
        },
        status=200 if ready else 503,
    )
