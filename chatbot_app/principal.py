"""Who is calling a tool, and with which scopes.

Over HTTP the bearer token of each request is checked by `CredentialVerifier` (the SDK's token
verifier hook) and reaches the tools as the SDK's access token. Over stdio, and for in-process
clients, the credential is put in a context variable with `local_credential`, and checked again
on every call so a token revoked while the process runs stops working at once.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from asgiref.sync import sync_to_async
from django.db import close_old_connections
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken
from rest_framework.exceptions import APIException
from rest_framework_simplejwt.authentication import JWTAuthentication

from accounts_app.models import Scope
from accounts_app.tokens import TokenRejected, api_token_authenticate, looks_like_api_token

READ_WRITE = frozenset({Scope.READ.value, Scope.WRITE.value})

_local_credential: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "chatbot_local_credential", default=None
)


class CredentialRejected(Exception):
    pass


@dataclass(frozen=True)
class Principal:
    user_id: int
    scopes: frozenset[str]
    expires_at: int | None = None  # POSIX seconds

    @property
    def can_write(self) -> bool:
        return Scope.WRITE in self.scopes


def principal_for(credential: str) -> Principal:
    """Check a personal API token (`todo_pat_...`) or a JWT access token (full scopes)."""
    if looks_like_api_token(credential):
        try:
            token = api_token_authenticate(credential)
        except TokenRejected as exc:
            raise CredentialRejected(str(exc)) from None
        expires = int(token.expires_at.timestamp()) if token.expires_at else None
        return Principal(user_id=token.user_id, scopes=token.scope_set, expires_at=expires)
    jwt = JWTAuthentication()
    try:
        validated = jwt.get_validated_token(credential.encode())
        user = jwt.get_user(validated)
    except APIException as exc:
        raise CredentialRejected("Invalid or expired token.") from exc
    return Principal(user_id=user.pk, scopes=READ_WRITE, expires_at=validated.get("exp"))


@contextmanager
def local_credential(credential: str) -> Iterator[None]:
    """Make `credential` the caller of tools run from this context (stdio, in-process)."""
    reset = _local_credential.set(credential)
    try:
        yield
    finally:
        _local_credential.reset(reset)


def current_principal() -> Principal:
    """The caller of the tool being run (sync: may read the database)."""
    access = get_access_token()
    if access is not None and access.subject is not None:
        return Principal(user_id=int(access.subject), scopes=frozenset(access.scopes))
    credential = _local_credential.get()
    if credential is None:
        raise CredentialRejected("Not authenticated: give a personal API token.")
    return principal_for(credential)


def _verify(credential: str) -> AccessToken | None:
    close_old_connections()
    try:
        principal = principal_for(credential)
    except CredentialRejected:
        return None
    finally:
        close_old_connections()
    return AccessToken(
        token=credential,
        client_id=f"user-{principal.user_id}",
        subject=str(principal.user_id),
        scopes=sorted(principal.scopes),
        expires_at=principal.expires_at,
    )


class CredentialVerifier:
    """The SDK's TokenVerifier for the HTTP transport: any unknown bearer is a 401."""

    async def verify_token(self, token: str) -> AccessToken | None:
        return await sync_to_async(_verify, thread_sensitive=True)(token)
