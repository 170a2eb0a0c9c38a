"""The email channel: one SMTP submission per reminder with aiosmtplib.

STARTTLS, implicit TLS or plain (a local relay), with login when a user name is set. Without
SMTP_HOST the message goes to the log instead.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from email.message import EmailMessage
from html import escape
from typing import Any, TypeVar

import aiosmtplib
from django.conf import settings

from notifications_app.channels import ChannelSkipped

logger = logging.getLogger(__name__)

T = TypeVar("T")

NOT_CONFIGURED = "Email is not configured on this server (no SMTP_HOST); the message was logged."


def email_configured() -> bool:
    return bool(settings.SMTP_HOST)


def build_email(*, to: str, subject: str, text: str, link: str) -> EmailMessage:
    """A plain-text part and an HTML alternative carrying the same words and the link."""
    message = EmailMessage()
    message["From"] = settings.SMTP_FROM
    message["To"] = to
    message["Subject"] = subject
    plain = f"{text}\n\n{link}\n" if link else f"{text}\n"
    message.set_content(plain)
    paragraphs = "".join(f"<p>{escape(line)}</p>" for line in text.splitlines() if line.strip())
    anchor = f'<p><a href="{escape(link, quote=True)}">Open the task</a></p>' if link else ""
    message.add_alternative(
        f"<!doctype html><html><body><h1>{escape(subject)}</h1>{paragraphs}{anchor}</body></html>",
        subtype="html",
    )
    return message


def send_email(message: EmailMessage) -> None:
    """Submit `message`; raises on any SMTP or connection error (the caller retries)."""
    if not email_configured():
        logger.info(
            "email not configured; logging the message instead",
            extra={"to": message["To"], "subject": message["Subject"], "body": _plain(message)},
        )
        raise ChannelSkipped(NOT_CONFIGURED)
    options = _smtp_options()
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        _thread_connection(options).send(message)
        return
    # A thread that already runs an event loop (none of ours do, but a caller might) sends
    # from a short-lived thread rather than nesting loops.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, aiosmtplib.send(message, **options)).result()


def _smtp_options() -> dict[str, Any]:
    mode = settings.SMTP_TLS
    return {
        "hostname": settings.SMTP_HOST,
        "port": settings.SMTP_PORT,
        "username": settings.SMTP_USERNAME or None,
        "password": (settings.SMTP_PASSWORD or None) if settings.SMTP_USERNAME else None,
        "use_tls": mode == "tls",
        "start_tls": mode == "starttls",
        "timeout": settings.SMTP_TIMEOUT_SECONDS,
    }


class _Connection:
    """One SMTP session kept open by a sending thread, with that thread's event loop.

    A connection (TCP, TLS, EHLO, login) per message costs more than the message; a worker
    sending a burst of reminders reuses one. Any error drops the session, and an error on a
    reused one (the server closed it while idle) is retried once on a fresh session.
    """

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        self.loop = asyncio.new_event_loop()
        self.client: aiosmtplib.SMTP | None = None

    def send(self, message: EmailMessage) -> None:
        reused = self.client is not None and self.client.is_connected
        try:
            self.loop.run_until_complete(self._send(message))
        except (aiosmtplib.SMTPServerDisconnected, ConnectionError):
            self.drop()
            if not reused:
                raise
            self.loop.run_until_complete(self._send(message))
        except BaseException:
            self.drop()
            raise

    async def _send(self, message: EmailMessage) -> None:
        if self.client is None or not self.client.is_connected:
            self.client = aiosmtplib.SMTP(**self.options)
            await self.client.connect()
        await self.client.send_message(message)

    def drop(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None

    def close(self) -> None:
        self.drop()
        self.loop.close()


_local = threading.local()


def _thread_connection(options: dict[str, Any]) -> _Connection:
    connection: _Connection | None = getattr(_local, "smtp", None)
    if connection is None or connection.options != options:  # settings differ (tests)
        if connection is not None:
            connection.close()
        connection = _local.smtp = _Connection(options)
    return connection


def _plain(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""
