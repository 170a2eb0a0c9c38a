"""Rate limits: per user on the API, tighter and per client address on the auth endpoints."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rest_framework import throttling
from rest_framework.settings import api_settings

if TYPE_CHECKING:  # rest_framework.views imports this module while it loads
    from rest_framework.request import Request
    from rest_framework.views import APIView


# A rate of "off" lifts a limit (load tests): no counter is kept at all. A huge rate instead
# would keep a timestamp per request of the last period and copy them all on every request.
OFF = "off"


class _SettingsRate:
    """Reads the rate when a request comes in, not at import, so settings overrides apply."""

    scope: str

    def get_rate(self) -> str | None:
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        return None if rate is None or str(rate).lower() == OFF else str(rate)


class UserRateThrottle(_SettingsRate, throttling.UserRateThrottle):
    scope = "user"


class AuthRateThrottle(_SettingsRate, throttling.SimpleRateThrottle):
    """Register and token endpoints are keyed by client address whoever is asking.

    A password guesser holding a valid token for another account must not escape the limit.
    """

    scope = "auth"

    def get_cache_key(self, request: Request, view: APIView) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
