"""pytest plugin (loaded with -p): one embedded PostgreSQL per test session.

It runs before pytest-django configures Django, so settings see DATABASE_URL. A DATABASE_URL
already in the environment (an external server) is used as it is.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config) -> None:
    session_dir = Path(tempfile.mkdtemp(prefix="todo-tests-"))
    # Registered first, so it runs last: after the server's own exit hook has stopped it.
    atexit.register(shutil.rmtree, session_dir, ignore_errors=True)
    os.environ["VAR_DIR"] = str(session_dir / "var")
    os.environ["TODO_EMBEDDED"] = "true"
    os.environ.setdefault("EVENT_RUNTIME", "inline")
    os.environ.setdefault("LOG_JSON", "false")
    if os.environ.get("DATABASE_URL"):
        return
    from webapp.embedded_db import start_server

    os.environ["DATABASE_URL"] = start_server(session_dir / "pgdata", delete_on_exit=True)
