"""Personal API tokens: create, list, revoke and check them.

A token reads `todo_pat_<random>`. The prefix lets the authentication class tell it from a JWT
and lets secret scanners recognise a leaked one. Only its SHA-256 hash is stored; the secret is
shown once, in the answer that creates it.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from accounts_app.models import ApiToken, Scope

TOKEN_PREFIX = "todo_pat_"  # noqa: S105 (a public marker, not a secret)
DISPLAY_PREFIX_LENGTH = len(TOKEN_PREFIX) + 6
MAX_ACTIVE_TOKENS = 50
# Recording every use would turn each API read into a write; a minute's precision is plenty.
LAST_USED_PRECISION = timedelta(minutes=1)


class TokenRejected(Exception):
    """The presented secret is unknown, revoked or expired (an HTTP 401)."""


def token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def looks_like_api_token(credential: str) -> bool:
    return credential.startswith(TOKEN_PREFIX)


def normalize_scopes(scopes: str | Iterable[str]) -> str:
    """`"read"`, `"read write"` or a list of those names -> the stored form ("read write").

    Writing implies reading: a token that may change tasks may also see them.
    """
    names = scopes.split() if isinstance(scopes, str) else [str(name) for name in scopes]
    unknown = sorted(set(names) - set(Scope.values))
    if unknown:
        raise ValidationError(
            {
                "scopes": [
                    f"Unknown scope {', '.join(map(repr, unknown))}; use 'read' or 'read write'."
                ]
            }
        )
    if not names:
        raise ValidationError({"scopes": ["Give 'read' or 'read write'."]})
    if Scope.WRITE in names:
        return f"{Scope.READ} {Scope.WRITE}"
    return str(Scope.READ)


@transaction.atomic
def api_token_create(
    *, user: User, name: str, scopes: str | Iterable[str], expires_at: datetime | None = None
) -> tuple[ApiToken, str]:
    """Create a token; returns it with its secret, which is never available again."""
    cleaned_name = name.strip()
    if not cleaned_name:
        raise ValidationError({"name": ["This field may not be blank."]})
    stored_scopes = normalize_scopes(scopes)
    if expires_at is not None and expires_at <= timezone.now():
        raise ValidationError({"expires_at": ["The expiry must be in the future."]})
    # Lock the user's row so two concurrent creations cannot both pass the limit.
    User.objects.select_for_update().filter(pk=user.pk).first()
    if api_token_list(user=user).count() >= MAX_ACTIVE_TOKENS:
        raise ValidationError(
            {"non_field_errors": [f"At most {MAX_ACTIVE_TOKENS} active tokens; revoke one first."]}
        )
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(
        user=user,
        name=cleaned_name,
        prefix=secret[:DISPLAY_PREFIX_LENGTH],
        token_hash=token_hash(secret),
        scopes=stored_scopes,
        expires_at=expires_at,
    )
    return token, secret


def api_token_revoke(*, token: ApiToken) -> None:
    """Revoke now; a token already revoked stays as it was."""
    ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


def api_token_list(*, user: User) -> QuerySet[ApiToken]:
    """The user's tokens that are not revoked (expired ones included, so they can be tidied)."""
    return ApiToken.objects.filter(user_id=user.pk, revoked_at__isnull=True).order_by(
        "-created_at", "id"
    )


def api_token_get(*, user: User, token_id: object) -> ApiToken:
    """One of the user's unrevoked tokens; anyone else's is a 404 like a missing one."""
    try:
        pk = token_id if isinstance(token_id, uuid.UUID) else uuid.UUID(str(token_id))
    except ValueError:
        raise Http404("No such token.") from None
    found = api_token_list(user=user).filter(pk=pk).first()
    if found is None:
        raise Http404("No such token.")
    return found


def api_token_authenticate(secret: str) -> ApiToken:
    """The active token with this secret (its user loaded), or TokenRejected."""
    token = ApiToken.objects.select_related("user").filter(token_hash=token_hash(secret)).first()
    if token is None or not token.is_active():
        raise TokenRejected("Invalid, expired or revoked API token.")
    if not token.user.is_active:
        raise TokenRejected("The token's user is inactive.")
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token
