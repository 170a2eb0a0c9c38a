"""Email over TLS: STARTTLS and implicit TLS against a real aiosmtpd server with a test CA.

The server's certificate comes from a throw-away CA (trustme); the client trusts it the way
an operator would trust a private CA, through `SSL_CERT_FILE`, so certificate and host name
checks stay on.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from django.contrib.auth.models import User

from notifications_app.models import Notification, NotificationStatus, ReminderStatus
from tests.notifications_app.conftest import Inbox, free_port, reminders_of, task_with_reminders
from webapp.events.runtimes.inline import InlineRuntime

DUE = datetime(2031, 5, 2, 9, 0, tzinfo=UTC)
PASSWORD = "s3cret-over-tls"


class TlsInbox(Inbox):
    """Also records whether each message came over an encrypted session."""

    def __init__(self) -> None:
        super().__init__()
        self.encrypted: list[bool] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.encrypted.append(server.transport.get_extra_info("ssl_object") is not None)
        return await super().handle_DATA(server, session, envelope)


@dataclass
class TlsServer:
    inbox: TlsInbox
    logins: list[bytes] = field(default_factory=list)


@pytest.fixture
def ca(tmp_path: Path) -> trustme.CA:
    return trustme.CA()


def _server_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    return context


def _trust(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bundle = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))


@pytest.fixture(params=["starttls", "tls"])
def tls_server(
    request: pytest.FixtureRequest, ca: trustme.CA, settings: Any
) -> Iterator[TlsServer]:
    """An SMTP server that only accepts AUTH over TLS, in the mode the test is run with."""
    server = TlsServer(inbox=TlsInbox())

    def authenticate(smtp: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        server.logins.append(data.login)
        # handled=False: aiosmtpd then answers the rejection (535) itself.
        return AuthResult(success=data.password == PASSWORD.encode(), handled=False)

    port = free_port()
    context = _server_context(ca)
    # aiosmtpd only counts STARTTLS for `auth_require_tls`; under implicit TLS every byte is
    # encrypted anyway, so it must not be asked for there.
    mode_options: dict[str, Any] = (
        {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
        if request.param == "starttls"
        else {"ssl_context": context, "server_hostname": "127.0.0.1", "auth_require_tls": False}
    )
    controller = Controller(
        server.inbox, hostname="127.0.0.1", port=port, authenticator=authenticate, **mode_options
    )
    controller.start()
    settings.SMTP_HOST, settings.SMTP_PORT, settings.SMTP_TLS = "127.0.0.1", port, request.param
    settings.SMTP_USERNAME, settings.SMTP_PASSWORD = "mailer", PASSWORD
    try:
        yield server
    finally:
        controller.stop()


def _fire_one_email_reminder(owner: User, inline_runtime: InlineRuntime) -> Notification:
    with time_machine.travel(DUE - timedelta(days=1), tick=False):
        task = task_with_reminders(
            owner, due_at=DUE, reminders=[{"before": timedelta(0), "channels": ["email"]}]
        )
    with time_machine.travel(DUE, tick=False):
        inline_runtime.fire_due_jobs()
    return Notification.objects.get(task=task)


def test_it_sends_over_tls_and_logs_in_when_the_server_certificate_is_trusted(
    owner: User,
    tls_server: TlsServer,
    ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    inline_runtime: InlineRuntime,
) -> None:
    _trust(ca, tmp_path, monkeypatch)

    row = _fire_one_email_reminder(owner, inline_runtime)

    assert (row.status, row.attempts) == (NotificationStatus.SENT, 1)
    assert tls_server.logins == [b"mailer"]
    assert tls_server.inbox.encrypted == [True]
    assert tls_server.inbox.messages[0]["Subject"] == "Reminder: Submit the tax return"
    assert reminders_of(row.task)[0].status == ReminderStatus.SENT  # type: ignore[arg-type]


def test_an_untrusted_server_certificate_fails_the_email_and_sends_nothing(
    owner: User,
    tls_server: TlsServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    inline_runtime: InlineRuntime,
) -> None:
    # Trust some other CA only: the server's certificate cannot be verified.
    _trust(trustme.CA(), tmp_path, monkeypatch)

    row = _fire_one_email_reminder(owner, inline_runtime)

    assert (row.status, row.attempts) == (NotificationStatus.FAILED, 4)
    assert "CERTIFICATE_VERIFY_FAILED" in row.error
    assert tls_server.logins == []
    assert tls_server.inbox.messages == []


def test_a_rejected_password_fails_the_email_after_its_retries(
    owner: User,
    tls_server: TlsServer,
    ca: trustme.CA,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    settings: Any,
    inline_runtime: InlineRuntime,
) -> None:
    _trust(ca, tmp_path, monkeypatch)
    settings.SMTP_PASSWORD = "not-the-password"

    row = _fire_one_email_reminder(owner, inline_runtime)

    assert (row.status, row.attempts) == (NotificationStatus.FAILED, 4)
    assert "SMTPAuthenticationError" in row.error
    # Every attempt logged in as the configured user (aiosmtplib tries each offered mechanism).
    assert set(tls_server.logins) == {b"mailer"}
    assert len(tls_server.logins) >= 4
    assert tls_server.inbox.messages == []
