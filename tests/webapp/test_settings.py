"""Settings come from the environment through typed helpers that fail loudly."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from webapp import env
from webapp.settings import database_from_url


@pytest.mark.parametrize(
    ("raw", "expected"), [("true", True), ("On", True), ("0", False), ("", False)]
)
def test_env_bool_reads_common_spellings(
    monkeypatch: pytest.MonkeyPatch, raw: str, expected: bool
) -> None:
    monkeypatch.setenv("FLAG", raw)
    assert env.env_bool("FLAG", not expected) is expected


def test_env_helpers_return_defaults_when_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UNSET_VALUE", raising=False)

    assert env.env_bool("UNSET_VALUE", True) is True
    assert env.env_int("UNSET_VALUE", 7) == 7
    assert env.env_float("UNSET_VALUE", 1.5) == 1.5
    assert env.env_list("UNSET_VALUE", ["a"]) == ["a"]
    assert env.env_choice("UNSET_VALUE", "x", ["x", "y"]) == "x"


def test_env_list_splits_on_commas_and_drops_blanks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTS", " a.example , ,b.example,")
    assert env.env_list("HOSTS", []) == ["a.example", "b.example"]


@pytest.mark.parametrize(
    ("reader", "raw", "message"),
    [
        (lambda: env.env_bool("BAD", False), "maybe", "BAD must be a boolean"),
        (lambda: env.env_int("BAD", 1), "ten", "BAD must be an integer"),
        (lambda: env.env_int("BAD", 1, minimum=0), "-3", "BAD must be at least 0"),
        (lambda: env.env_float("BAD", 1.0), "fast", "BAD must be a number"),
        (lambda: env.env_choice("BAD", "a", ["a", "b"]), "c", "BAD must be one of a, b"),
    ],
)
def test_a_bad_value_fails_loudly_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, reader: object, raw: str, message: str
) -> None:
    monkeypatch.setenv("BAD", raw)
    with pytest.raises(ImproperlyConfigured, match=message):
        reader()  # type: ignore[operator]


def test_database_url_is_split_into_django_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_CONN_MAX_AGE", raising=False)

    db = database_from_url("postgresql://app:s%40cret@db.internal:6543/todo?sslmode=require")

    assert db["NAME"] == "todo" and db["USER"] == "app" and db["PASSWORD"] == "s@cret"
    assert db["HOST"] == "db.internal" and db["PORT"] == "6543"
    assert db["OPTIONS"] == {"sslmode": "require", "application_name": "todo"}
    assert db["CONN_MAX_AGE"] == 60 and db["CONN_HEALTH_CHECKS"] is False


def test_a_pooled_database_hands_connections_back_after_each_request() -> None:
    pool = {"min_size": 1, "max_size": 5, "timeout": 5.0}

    db = database_from_url("postgresql://app@db.internal/todo", pool=pool)

    assert db["OPTIONS"] == {"application_name": "todo", "pool": pool}
    assert db["CONN_MAX_AGE"] == 0 and db["CONN_HEALTH_CHECKS"] is True


def test_database_url_accepts_a_socket_directory_as_host() -> None:
    db = database_from_url("postgresql://postgres@/todo?host=/run/postgresql")

    assert db["HOST"] == "/run/postgresql" and db["OPTIONS"] == {"application_name": "todo"}


def test_database_url_password_falls_back_to_the_secret_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    secret = tmp_path / "db-password"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("DATABASE_PASSWORD_FILE", str(secret))

    db = database_from_url("postgresql://app@db.internal/todo")

    assert db["PASSWORD"] == "from-a-file"


def test_a_non_postgres_database_url_is_refused() -> None:
    with pytest.raises(ImproperlyConfigured, match="postgresql://"):
        database_from_url("mysql://app@db/todo")


def test_api_settings_match_the_contract() -> None:
    assert settings.SIMPLE_JWT["ACCESS_TOKEN_LIFETIME"] == timedelta(hours=1)
    assert settings.SIMPLE_JWT["ROTATE_REFRESH_TOKENS"] is True
    assert settings.SIMPLE_JWT["BLACKLIST_AFTER_ROTATION"] is True
    assert settings.REST_FRAMEWORK["NUM_PROXIES"] == 0
    assert settings.USE_TZ is True and settings.TIME_ZONE == "UTC"


def test_every_setting_read_from_the_environment_is_in_a_readme_table() -> None:
    root = Path(__file__).resolve().parents[2]
    source = (root / "webapp" / "settings.py").read_text()
    names = set(
        re.findall(r'env_(?:str|bool|int|float|list|choice|path)\(\s*"([A-Z0-9_]+)"', source)
    )
    secrets = {f"{name}_FILE" for name in re.findall(r'get_secret\(\s*"([A-Z0-9_]+)"', source)}
    rows = [line for line in (root / "README.md").read_text().splitlines() if line.startswith("|")]

    missing = sorted(name for name in names | secrets if not any(name in row for row in rows))

    assert names and not missing, f"README tables lack: {missing}"
