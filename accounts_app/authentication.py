"""DRF authentication for personal API tokens (`Authorization: Bearer todo_pat_...`).

Listed before simplejwt's JWTAuthentication: a `todo_pat_` bearer is settled here (accepted or a
401), anything else is left to the JWT class.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.models import User
from django.db.models.signals import post_delete, post_save
from drf_spectacular.contrib.rest_framework_simplejwt import SimpleJWTScheme
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.tokens import Token

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


class RecentUsers:
    """The rows of users this process authenticated in the last few seconds, by id.

    Each request gets a fresh User built from the row, never a shared instance: a view that
    caches a relation on its user must not show it to another request.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._rows: dict[int, tuple[float, tuple[Any, ...]]] = {}
        self._lock = threading.Lock()
        self._fields = [field.attname for field in User._meta.concrete_fields]

    def get(self, user_id: int) -> User | None:
        with self._lock:
            entry = self._rows.get(user_id)
        if entry is None or entry[0] < self.clock():
            return None
        return User.from_db("default", self._fields, entry[1])

    def put(self, user: User) -> None:
        ttl = settings.JWT_USER_CACHE_SECONDS
        if ttl <= 0:
            return
        row = tuple(getattr(user, name) for name in self._fields)
        with self._lock:
            if len(self._rows) > 10_000:  # a bound, not an eviction policy: it refills itself
                self._rows.clear()
            self._rows[user.pk] = (self.clock() + ttl, row)

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()

    def forget(self, user_id: int) -> None:
        with self._lock:
            self._rows.pop(user_id, None)


recent_users = RecentUsers()


class CachedUserJWTAuthentication(JWTAuthentication):
    """simplejwt's JWT authentication, reading the token's user at most every few seconds.

    The user lookup was the one query of an authenticated read and a tenth of a create's CPU.
    A user deactivated or deleted is refused by every process within JWT_USER_CACHE_SECONDS
    (and at once by the process that made the change); 0 reads the user on every request.
    """

    # simplejwt annotates get_user with a TypeVar that no argument binds; ours is plainer.
    def get_user(self, validated_token: Token) -> AbstractBaseUser:  # type: ignore[override]
        user_id = validated_token.get(api_settings.USER_ID_CLAIM)
        cached = recent_users.get(int(user_id)) if isinstance(user_id, int | str) else None
        if cached is not None and cached.is_active:
            return cached
        user = super().get_user(validated_token)
        if isinstance(user, User):
            recent_users.put(user)
        return user


class CachedUserJWTScheme(SimpleJWTScheme):  # type: ignore[no-untyped-call]
    """Documents CachedUserJWTAuthentication as drf-spectacular documents simplejwt's."""

    target_class = "accounts_app.authentication.CachedUserJWTAuthentication"


def _forget_user(sender: type[User], instance: User, **kwargs: Any) -> None:
    recent_users.forget(instance.pk)


post_save.connect(_forget_user, sender=User, dispatch_uid="accounts_forget_saved_user")
post_delete.connect(_forget_user, sender=User, dispatch_uid="accounts_forget_deleted_user")
