"""Making a DaprClient with a deadline on every call, and checking the sidecar's health.

The SDK sets no deadline and no retries by default, so a sidecar that accepts a connection and
never answers would hang the caller; callers here retry on their own terms (the relay's
backoff, the Jobs failure policy, daprd redelivering the event that led to a job call).
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections import namedtuple
from typing import Any

import grpc
from dapr.clients import DaprClient
from dapr.clients.http.helpers import get_api_url
from dapr.conf import settings as dapr_settings
from django.conf import settings


class _CallDetails(
    namedtuple(  # grpc reads these six fields
        "_CallDetails",
        ["method", "timeout", "metadata", "credentials", "wait_for_ready", "compression"],
    ),
    grpc.ClientCallDetails,  # type: ignore[misc]
):
    pass


class DeadlineInterceptor(grpc.UnaryUnaryClientInterceptor):  # type: ignore[misc]
    """Gives every unary call that has none a deadline of `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        if details.timeout is None:
            details = _CallDetails(
                details.method,
                self.seconds,
                details.metadata,
                details.credentials,
                details.wait_for_ready,
                details.compression,
            )
        return continuation(details, request)


def make_client() -> DaprClient:
    """A client whose calls time out after DAPR_TIMEOUT_SECONDS.

    Making it waits for the sidecar (up to the SDK's DAPR_HEALTH_TIMEOUT, default 60 s) and
    raises TimeoutError if the sidecar never comes up. Keep and reuse it: it holds a channel.
    """
    return DaprClient(interceptors=[DeadlineInterceptor(settings.DAPR_TIMEOUT_SECONDS)])


def sidecar_problem(*, timeout: float = 2.0) -> str | None:
    """None if the sidecar answers its outbound health check, else why not.

    The outbound check says the sidecar can reach its components; the full /healthz also
    waits for this app, which would make the app's readiness wait on itself.
    """
    url = f"{get_api_url()}/healthz/outbound"
    headers = {}
    if dapr_settings.DAPR_API_TOKEN:
        headers["dapr-api-token"] = str(dapr_settings.DAPR_API_TOKEN)
    request = urllib.request.Request(url, headers=headers)  # noqa: S310 - the sidecar's URL
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (OSError, ValueError) as exc:
        return f"dapr sidecar unreachable: {type(exc).__name__}"
    if 200 <= status < 300:
        return None
    return f"dapr sidecar unhealthy: HTTP {status}"
