"""Reading secrets: the Dapr secret store (fake sidecar), `<NAME>_FILE`, the embedded fallback."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from dapr.conf import settings as dapr_settings

from tests.fakes.dapr_sidecar import FakeDaprSidecar
from webapp.secrets import MissingSecret, get_secret

VALUE = "pa55-w0rd-that-must-never-be-logged"


@pytest.fixture(autouse=True)
def _log_everything(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


@pytest.fixture
def outside_embedded(monkeypatch: pytest.MonkeyPatch) -> None:
    """The distributed shape: no embedded fallback, no secret files unless a test adds one."""
    monkeypatch.delenv("TODO_EMBEDDED", raising=False)
    for name in ("SMTP_PASSWORD_FILE", "DJANGO_SECRET_KEY_FILE", "EVENT_RUNTIME"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def under_dapr(
    outside_embedded: None, monkeypatch: pytest.MonkeyPatch, dapr_sidecar: FakeDaprSidecar
) -> FakeDaprSidecar:
    monkeypatch.setenv("EVENT_RUNTIME", "dapr")
    return dapr_sidecar


def assert_not_logged(caplog: pytest.LogCaptureFixture, *values: str) -> None:
    for record in caplog.records:
        rendered = f"{record.getMessage()} {record.__dict__}"
        for value in values:
            assert value not in rendered


def test_it_reads_a_secret_from_the_dapr_store_under_its_dashed_key(
    under_dapr: FakeDaprSidecar, caplog: pytest.LogCaptureFixture
) -> None:
    under_dapr.secrets = {"secretstore": {"smtp-password": VALUE}}

    assert get_secret("SMTP_PASSWORD") == VALUE
    assert under_dapr.secret_requests == [("secretstore", "smtp-password")]
    assert_not_logged(caplog, VALUE)


def test_it_reads_the_store_named_by_dapr_secret_store(
    under_dapr: FakeDaprSidecar, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DAPR_SECRET_STORE", "keyvault")
    under_dapr.secrets = {"keyvault": {"django-secret-key": VALUE}}

    assert get_secret("DJANGO_SECRET_KEY") == VALUE
    assert under_dapr.secret_requests == [("keyvault", "django-secret-key")]


def test_a_kubernetes_secret_with_one_differently_named_value_is_read(
    under_dapr: FakeDaprSidecar,
) -> None:
    under_dapr.secrets = {"secretstore": {"smtp-password": {"password": VALUE}}}

    assert get_secret("SMTP_PASSWORD") == VALUE


def test_a_kubernetes_secret_with_a_value_under_its_own_name_is_read(
    under_dapr: FakeDaprSidecar,
) -> None:
    under_dapr.secrets = {
        "secretstore": {"smtp-password": {"smtp-password": VALUE, "username": "mailer"}}
    }

    assert get_secret("SMTP_PASSWORD") == VALUE


def test_a_secret_missing_from_the_store_falls_back_to_its_file(
    under_dapr: FakeDaprSidecar,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    under_dapr.secrets = {"secretstore": {}}
    path = tmp_path / "smtp"
    path.write_text(VALUE + "\n")
    monkeypatch.setenv("SMTP_PASSWORD_FILE", str(path))

    assert get_secret("SMTP_PASSWORD") == VALUE
    assert under_dapr.secret_requests == [("secretstore", "smtp-password")]
    assert_not_logged(caplog, VALUE)


def test_it_reads_a_secret_from_the_file_its_name_file_variable_points_at(
    outside_embedded: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = tmp_path / "django-secret-key"
    path.write_text(f"  {VALUE}\n")
    monkeypatch.setenv("DJANGO_SECRET_KEY_FILE", str(path))

    assert get_secret("DJANGO_SECRET_KEY") == VALUE
    assert_not_logged(caplog, VALUE)


def test_an_unreadable_secret_file_is_a_clear_error(
    outside_embedded: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SMTP_PASSWORD_FILE", str(tmp_path / "missing"))

    with pytest.raises(MissingSecret, match="SMTP_PASSWORD_FILE points at"):
        get_secret("SMTP_PASSWORD")


def test_a_required_secret_nowhere_to_be_found_is_a_clear_error(outside_embedded: None) -> None:
    with pytest.raises(MissingSecret) as failure:
        get_secret("SMTP_PASSWORD")

    message = str(failure.value)
    assert "SMTP_PASSWORD" in message
    assert "'smtp-password'" in message and "SMTP_PASSWORD_FILE" in message


def test_a_required_secret_missing_from_store_and_files_is_a_clear_error_under_dapr(
    under_dapr: FakeDaprSidecar,
) -> None:
    under_dapr.secrets = {"secretstore": {"other": "x"}}

    with pytest.raises(MissingSecret, match="Dapr secret store as 'django-secret-key'"):
        get_secret("DJANGO_SECRET_KEY")


def test_an_optional_secret_that_is_missing_is_none(outside_embedded: None) -> None:
    assert get_secret("FIREBASE_CREDENTIALS", required=False, generate=False) is None


def test_a_sidecar_that_never_answers_is_a_clear_error(
    under_dapr: FakeDaprSidecar, caplog: pytest.LogCaptureFixture
) -> None:
    dapr_settings.DAPR_HEALTH_TIMEOUT = 1  # type: ignore[attr-defined]  # the fixture restores it
    under_dapr.stop()

    with pytest.raises(MissingSecret, match="sidecar did not answer"):
        get_secret("DJANGO_SECRET_KEY")


def test_the_embedded_shape_generates_a_stable_local_secret(
    outside_embedded: None,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("TODO_EMBEDDED", "true")
    monkeypatch.setenv("VAR_DIR", str(tmp_path))

    first = get_secret("DJANGO_SECRET_KEY")
    second = get_secret("DJANGO_SECRET_KEY")

    assert first and len(first) >= 40 and first == second
    assert (tmp_path / "secrets" / "django_secret_key").stat().st_mode & 0o077 == 0
    assert_not_logged(caplog, first)


def test_the_embedded_shape_does_not_invent_operator_secrets(
    outside_embedded: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TODO_EMBEDDED", "true")
    monkeypatch.setenv("VAR_DIR", str(tmp_path))

    assert get_secret("SMTP_PASSWORD", required=False, generate=False) is None
