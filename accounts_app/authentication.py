"""DRF authentication for personal API tokens (`Authorization: Bearer todo_pat_...`).

Listed before simplejwt's JWTAuthentication: a `todo_pat_` bearer is settled here (accepted or a
401), anything else is left to the JWT class.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request

from accounts_app.models import ApiToken
from accounts_app.tokens import TokenRejected, api_token_authenticate, looks_like_api_token

WRITE_SCOPE_NEEDED = "This API token is read-only; this request needs the 'write' scope."


class ApiTokenAuthentication(BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[User, ApiToken] | None:
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].decode(errors="replace").lower() != "bearer":
            return None
        credential = parts[1].decode(errors="replace")
        if not looks_like_api_token(credential):
            return None
        try:
            token = api_token_authenticate(credential)
        except TokenRejected as exc:
            raise exceptions.AuthenticationFailed(str(exc)) from None
        # Enforced here rather than in a permission class so that no view, whatever permission
        # classes it sets, can be written to with a read-only token.
        if request.method not in SAFE_METHODS and not token.can_write:
            raise exceptions.PermissionDenied(WRITE_SCOPE_NEEDED)
        return token.user, token

    def authenticate_header(self, request: Request) -> str:
        return f'{self.keyword} realm="api"'


class ApiTokenScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    """Documents personal API tokens as a bearer scheme in the OpenAPI schema."""

    target_class = ApiTokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A personal API token (todo_pat_...) from POST /api/v1/auth/api-tokens/",
        }
