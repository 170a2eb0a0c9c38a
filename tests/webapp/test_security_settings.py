"""Transport security: secure by default in production, usable over plain http for `make run`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]

# Settings that must come from the production shape itself, not from this test process.
LOCAL_ONLY = frozenset(
    {"DATABASE_URL", "TODO_EMBEDDED", "DEBUG", "EVENT_RUNTIME", "DATABASE_POOL",
     "DATABASE_APPLICATION_NAME", "PROMETHEUS_MULTIPROC_DIR"}
)  # fmt: skip


def production_env(tmp_path: Path) -> dict[str, str]:
    """Like the chart's pods: an external database, a signing key from a file, DEBUG off."""
    key_file = tmp_path / "django-secret-key"
    key_file.write_text("k3y-" + "0123456789abcdefghijklmnopqrstuvwxyz" * 2)
    env = {k: v for k, v in os.environ.items() if k not in LOCAL_ONLY}
    env.update(
        DATABASE_URL="postgresql://todo@db.invalid:5432/todo",
        DJANGO_SECRET_KEY_FILE=str(key_file),
        DEBUG="false",
        ALLOWED_HOSTS="todo.example.com",
        CSRF_TRUSTED_ORIGINS="https://todo.example.com",
        VAR_DIR=str(tmp_path / "var"),
    )
    return env


def test_production_settings_pass_the_deploy_checks(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_production_cookies_are_secure_and_hsts_is_on_by_default(tmp_path: Path) -> None:
    code = (
        "import json; from webapp import settings as s; print(json.dumps([s.SESSION_COOKIE_SECURE,"
        " s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS]))"
    )
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed snippet
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    session_secure, csrf_secure, hsts_seconds = json.loads(result.stdout.splitlines()[-1])
    assert session_secure and csrf_secure
    assert hsts_seconds >= 31_536_000


@pytest.mark.parametrize("path", ["/healthz", "/readyz", "/metrics"])
def test_probes_and_scrapes_over_http_are_never_redirected(settings: Any, path: str) -> None:
    settings.SECURE_SSL_REDIRECT = True
    assert Client().get(path).status_code != 301


def test_embedded_admin_login_works_over_plain_http() -> None:
    """`make run` serves http://127.0.0.1:8000: a Secure cookie would never come back."""
    User.objects.create_superuser("admin", "admin@example.com", "a-long-passphrase-42")
    client = Client(enforce_csrf_checks=True)

    form = client.get("/admin/login/", secure=False)
    csrf = form.cookies["csrftoken"]
    assert not csrf["secure"]
    response = client.post(
        "/admin/login/?next=/admin/",
        {
            "username": "admin",
            "password": "a-long-passphrase-42",
            "csrfmiddlewaretoken": csrf.value,
        },
        secure=False,
    )

    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert not response.cookies["sessionid"]["secure"]
    assert client.get("/admin/", secure=False).status_code == 200
