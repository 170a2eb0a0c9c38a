"""The email channel: one SMTP submission per reminder with aiosmtplib.

STARTTLS, implicit TLS or plain (a local relay), with login when a user name is set. Without
SMTP_HOST the message goes to the log instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
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
    mode = settings.SMTP_TLS
    _run(
        aiosmtplib.send(
            message,
            hostname=settings.SMTP_HOST,
            port=settings.SMTP_PORT,
            username=settings.SMTP_USERNAME or None,
            password=(settings.SMTP_PASSWORD or None) if settings.SMTP_USERNAME else None,
            use_tls=mode == "tls",
            start_tls=mode == "starttls",
            timeout=settings.SMTP_TIMEOUT_SECONDS,
        )
    )


def _plain(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    return part.get_content() if part is not None else ""


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine from synchronous code: job handlers run in plain threads.

    A thread that already runs an event loop (none of ours do, but a caller might) hands the
    coroutine to a short-lived thread rather than nesting loops.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()
