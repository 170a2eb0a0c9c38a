"""The push channel: FCM HTTP v1 through firebase-admin, one message per registered device."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import firebase_admin
from django.conf import settings
from firebase_admin import credentials, messaging

from notifications_app.channels import ChannelSkipped

logger = logging.getLogger(__name__)

NOT_CONFIGURED = "Push is not configured on this server (no FIREBASE_CREDENTIALS)."

_apps: dict[tuple[str, str], firebase_admin.App] = {}
_apps_lock = threading.Lock()


@dataclass
class PushResult:
    sent: list[str] = field(default_factory=list)
    unregistered: list[str] = field(default_factory=list)


def push_configured() -> bool:
    return bool(settings.FIREBASE_CREDENTIALS)


def _firebase_app() -> firebase_admin.App:
    """One firebase-admin app per credentials (settings can change in tests, not in a process)."""
    key = (settings.FIREBASE_CREDENTIALS, settings.FIREBASE_FCM_URL)
    with _apps_lock:
        app = _apps.get(key)
        if app is None:
            info = json.loads(settings.FIREBASE_CREDENTIALS)
            app = firebase_admin.initialize_app(
                credentials.Certificate(info), name=f"todo-{len(_apps)}"
            )
            if settings.FIREBASE_FCM_URL:
                # firebase-admin has no endpoint option; an emulator or egress proxy takes the
                # same v1 path on another base URL.
                service = messaging._get_messaging_service(app)
                base = settings.FIREBASE_FCM_URL.rstrip("/")
                service._fcm_url = f"{base}/v1/projects/{info['project_id']}/messages:send"
            _apps[key] = app
        return app


def send_push(
    *, tokens: Sequence[str], title: str, body: str, data: Mapping[str, str]
) -> PushResult:
    """Send to every token. Tokens FCM calls unregistered are reported, not retried.

    Raises the first error if no device got the message and some failed for another reason.
    """
    if not push_configured():
        raise ChannelSkipped(NOT_CONFIGURED)
    if not tokens:
        raise ChannelSkipped("No registered devices.")
    app = _firebase_app()
    result = PushResult()
    errors: list[Exception] = []
    for token in tokens:
        message = messaging.Message(
            notification=messaging.Notification(title=title, body=body), data=dict(data)
        )
        # Devices register FCM registration tokens, which the v1 API takes as `message.token`.
        # firebase-admin 7 warns on that argument in favour of installation ids (`fid`) that
        # our clients do not send; set after construction, the same field is encoded.
        message.token = token
        try:
            messaging.send(message, app=app)
        except messaging.UnregisteredError:
            result.unregistered.append(token)
        except Exception as exc:
            logger.warning("push to a device failed", extra={"error": repr(exc)})
            errors.append(exc)
        else:
            result.sent.append(token)
    if errors and not result.sent:
        raise errors[0]
    return result


def reset_apps() -> None:
    """Forget initialised apps (tests that swap credentials)."""
    with _apps_lock:
        for app in _apps.values():
            firebase_admin.delete_app(app)
        _apps.clear()
