"""Login lockout (django-axes): what it counts by, and how a locked-out login is answered.

Every `authenticate()` that carries a request goes through `LockoutBackend`: the admin's and
the web app's session logins and the API's token endpoint. Failures are counted per username
and client address together, in PostgreSQL (shared by every replica); `AXES_FAILURE_LIMIT`
failures lock that pair out for `AXES_COOLOFF_TIME`, a success resets the count. Locking the
pair, not the username, keeps an attacker from locking a member of staff out of the admin by
failing logins in their name from elsewhere.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime, timedelta
from typing import Any

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from axes.helpers import get_cool_off
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.db.models import Max
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils import timezone
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle


def client_address(request: HttpRequest | Request) -> str | None:
    """The address the API's per-address limits use (`API_TRUSTED_PROXIES` decides which hop
    of X-Forwarded-For counts), so a client cannot dodge the lockout with a header of its own.

    A hop that is no address (a request that bypassed the proxies) falls back to the peer:
    the attempts table stores addresses, and a 500 would let the guess go uncounted.
    """
    ident = BaseThrottle().get_ident(request)  # type: ignore[arg-type]  # reads META only
    try:
        return str(ipaddress.ip_address(ident))
    except ValueError:
        peer: str | None = request.META.get("REMOTE_ADDR")
        return peer


def client_username(
    request: HttpRequest | Request, credentials: dict[str, Any] | None
) -> str | None:
    """The username a login tried, cut to the longest an account can have.

    The token endpoint accepts a name of any length; a longer one matches no account, and
    unshortened it would overflow the attempts table (a 500 instead of a counted failure).
    """
    model = get_user_model()
    field = model.USERNAME_FIELD
    source = credentials or getattr(request, "data", None) or request.POST
    name = source.get(field)
    if name is None:
        return None
    longest = getattr(model._meta.get_field(field), "max_length", None) or 150
    return str(name)[:longest]


def lockout_ends(request: HttpRequest | Request, credentials: dict[str, Any] | None) -> datetime:
    """When the lockout of this username at this address ends: cool-off after the last failure
    (failures during a lockout are not recorded, so it does not move)."""
    last = AccessAttempt.objects.filter(
        username=client_username(request, credentials),
        ip_address=client_address(request),
    ).aggregate(last=Max("attempt_time"))["last"]
    cool_off: timedelta = get_cool_off(request) or timedelta(0)
    return (last or timezone.now()) + cool_off


class LockoutBackend(AxesStandaloneBackend):  # type: ignore[misc]  # axes is untyped
    """Refuses every login of a locked-out username at an address, right password or not.

    It authenticates no one itself; ModelBackend, after it, does.
    """

    def authenticate(
        self,
        request: HttpRequest | Request | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        if request is None:
            # Code, not a client, is logging in (test clients' login(), a shell): every HTTP
            # login path (the admin, the web app, the token endpoint) passes its request.
            return
        try:
            super().authenticate(request, username, password, **kwargs)
        except AxesBackendPermissionDenied:
            if isinstance(request, Request):
                # The API's 429 with Retry-After; a session login gets `lockout_response`.
                credentials = {"username": username}
                wait = (lockout_ends(request, credentials) - timezone.now()).total_seconds()
                raise Throttled(wait=max(wait, 1.0)) from None
            raise


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict[str, Any]
) -> HttpResponse:
    """The page a locked-out session login gets: 429, when to try again, and Retry-After."""
    ends = lockout_ends(request, credentials)
    seconds = max(1, int((ends - timezone.now()).total_seconds() + 0.999))
    body = render_to_string(
        "ratelimit/lockout.html",
        {"retry_at": ends, "minutes": (seconds + 59) // 60},
        request=request,
    )
    response = HttpResponse(body, status=429)
    response["Retry-After"] = str(seconds)
    return response
