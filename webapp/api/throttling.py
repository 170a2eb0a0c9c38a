"""Rate limits: per user on the API, tighter and per client address on the auth endpoints.

DRF's throttle interface (scopes, rates from settings, one key per user or client address)
over the counters in PostgreSQL (webapp.ratelimit), so every process and replica shares them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework import throttling
from rest_framework.settings import api_settings

from webapp.ratelimit.services import OFF, Rate, hit

if TYPE_CHECKING:  # rest_framework.views imports this module while it loads
    from rest_framework.request import Request
    from rest_framework.views import APIView


class _SharedRate(throttling.SimpleRateThrottle):
    """Reads the rate when a request comes in, not at import, so settings overrides apply;
    counts in the shared table instead of the process's cache."""

    scope: str
    num_requests: int | None  # set from the rate by DRF's __init__
    duration: int | None
    _wait: float | None = None

    def get_rate(self) -> str | None:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        # "off" lifts a limit (load tests): no counter is kept at all.
        return None if rate is None or str(rate).lower() == OFF else str(rate)

    def allow_request(self, request: Request, view: APIView) -> bool:
        if self.num_requests is None or self.duration is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        decision = hit(key=key, rate=Rate(limit=self.num_requests, period=self.duration))
        self._wait = decision.retry_after
        return decision.allowed

    def wait(self) -> float | None:
        return self._wait


class UserRateThrottle(_SharedRate, throttling.UserRateThrottle):
    scope = "user"


class AuthRateThrottle(_SharedRate):
    """Register and token endpoints are keyed by client address whoever is asking.

    A password guesser holding a valid token for another account must not escape the limit.
    """

    scope = "auth"

    def get_cache_key(self, request: Request, view: APIView) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
