"""Real delivery endpoints for the notification tests: an SMTP server and an FCM stand-in.

- `smtp_server`: aiosmtpd in this process on a free port; settings point SMTP at it.
- `fcm`: a local HTTP server that answers the OAuth token exchange and the FCM v1 send call,
  with a throw-away service-account key, so firebase-admin runs unmodified and nothing
  reaches Google.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth.models import User
from django.utils import timezone

from notifications_app.channels.push import reset_apps
from notifications_app.models import Device, Reminder
from planning.services import task_create
from tasks_app.models import Task


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(autouse=True)
def _delivery_settings(settings: Any) -> None:
    """No real SMTP or Firebase unless a test asks; retries without waiting (no sleeps)."""
    settings.SMTP_HOST = ""
    settings.SMTP_TLS = "none"
    settings.SMTP_USERNAME = ""
    settings.SMTP_PASSWORD = ""
    settings.FIREBASE_CREDENTIALS = ""
    settings.FIREBASE_FCM_URL = ""
    settings.NOTIFICATION_RETRY_DELAYS = [0.0, 0.0, 0.0]
    settings.PUBLIC_BASE_URL = "https://todo.example.com"


# --- SMTP ------------------------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.sessions = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.sessions += 1
        session.host_name = hostname
        return responses

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append(parsed)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"


@dataclass
class SmtpServer:
    port: int
    inbox: Inbox

    @property
    def messages(self) -> list[EmailMessage]:
        return self.inbox.messages


@pytest.fixture
def smtp_server(settings: Any) -> Iterator[SmtpServer]:
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.SMTP_HOST = "127.0.0.1"
    settings.SMTP_PORT = port
    settings.SMTP_FROM = "Todo <reminders@todo.example.com>"
    try:
        yield SmtpServer(port=port, inbox=inbox)
    finally:
        controller.stop()


@pytest.fixture
def smtp_down(settings: Any) -> int:
    """SMTP configured at a port where nothing listens: every connection is refused."""
    port = free_port()
    settings.SMTP_HOST = "127.0.0.1"
    settings.SMTP_PORT = port
    return port


# --- FCM -------------------------------------------------------------------------------------

PROJECT_ID = "todo-tests"


@dataclass
class Fcm:
    url: str
    sends: list[dict[str, Any]] = field(default_factory=list)
    token_requests: int = 0
    unregistered: set[str] = field(default_factory=set)
    failing: set[str] = field(default_factory=set)


def _fcm_handler(state: Fcm) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return None

        def _answer(self, status: int, body: dict[str, Any]) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path == "/token":
                state.token_requests += 1
                self._answer(
                    200,
                    {
                        "access_token": "local-access-token",
                        "expires_in": 3600,
                        "token_type": "Bearer",
                    },
                )
                return
            expected = f"/v1/projects/{PROJECT_ID}/messages:send"
            if self.path != expected:
                self._answer(404, {"error": {"code": 404, "message": "no such path"}})
                return
            body = json.loads(raw)
            state.sends.append({"authorization": self.headers.get("Authorization"), "body": body})
            token = body["message"]["token"]
            if token in state.unregistered:
                self._answer(404, _fcm_error(404, "NOT_FOUND", "UNREGISTERED"))
            elif token in state.failing:
                self._answer(400, _fcm_error(400, "INVALID_ARGUMENT", "INVALID_ARGUMENT"))
            else:
                self._answer(200, {"name": f"projects/{PROJECT_ID}/messages/{len(state.sends)}"})

    return Handler


def _fcm_error(code: int, status: str, fcm_code: str) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "message": f"{fcm_code} (test stand-in)",
            "status": status,
            "details": [
                {
                    "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                    "errorCode": fcm_code,
                }
            ],
        }
    }


@pytest.fixture(scope="session")
def _service_account_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def fcm(settings: Any, _service_account_key: str) -> Iterator[Fcm]:
    port = free_port()
    state = Fcm(url=f"http://127.0.0.1:{port}")
    server = ThreadingHTTPServer(("127.0.0.1", port), _fcm_handler(state))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.FIREBASE_CREDENTIALS = json.dumps(
        {
            "type": "service_account",
            "project_id": PROJECT_ID,
            "private_key_id": "local-test-key",
            "private_key": _service_account_key,
            "client_email": f"push@{PROJECT_ID}.iam.gserviceaccount.com",
            "client_id": "1",
            "token_uri": f"{state.url}/token",
        }
    )
    settings.FIREBASE_FCM_URL = state.url
    reset_apps()
    try:
        yield state
    finally:
        reset_apps()
        server.shutdown()
        server.server_close()


# --- tasks with reminders --------------------------------------------------------------------


def task_with_reminders(
    owner: User,
    *,
    due_at: datetime | None,
    reminders: list[dict[str, Any]],
    title: str = "Submit the tax return",
) -> Task:
    """Through the task service, as the API does (the created event schedules the jobs)."""
    return task_create(owner=owner, title=title, due_at=due_at, reminders=reminders)


def add_device(owner: User, token: str) -> Device:
    return Device.objects.create(user=owner, token=token, platform="android")


def reminders_of(task: Task) -> list[Reminder]:
    return list(Reminder.objects.filter(task=task).order_by("fire_at"))


def in_future(**delta: float) -> datetime:
    return timezone.now() + timedelta(**delta)
