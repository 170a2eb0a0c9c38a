"""Links in messages point where the server listens when PUBLIC_BASE_URL is not set."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest


def settings_value(name: str, **environment: str) -> str:
    """A setting as a fresh process reads it from `environment` (settings load once per process)."""
    env = {key: value for key, value in os.environ.items() if key not in ("PORT", name)}
    env.update(environment)
    code = f"from django.conf import settings; print(settings.{name})"
    done = subprocess.run(  # noqa: S603  # our own interpreter, fixed arguments
        [sys.executable, "-c", code],
        env={**env, "DJANGO_SETTINGS_MODULE": "webapp.settings"},
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"PORT": "8765"}, "http://127.0.0.1:8765"),
        (
            {"PORT": "8765", "PUBLIC_BASE_URL": "https://todo.example.com/"},
            "https://todo.example.com",
        ),
    ],
)
def test_public_base_url_follows_port_unless_set(
    environment: dict[str, str], expected: str
) -> None:
    assert settings_value("PUBLIC_BASE_URL", **environment) == expected
