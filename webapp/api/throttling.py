"""Rate limits: per user on the API, tighter and per client address on the auth endpoints."""

from __future__ import annotations

from rest_framework import throttling


class UserRateThrottle(throttling.UserRateThrottle):
    scope = "user"


class AuthRateThrottle(throttling.AnonRateThrottle):
    """Register and token endpoints are keyed by client address whoever is asking."""

    scope = "auth"
