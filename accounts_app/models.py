"""Personal API tokens: long-lived bearer credentials a user gives to scripts and chatbots."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class Scope(models.TextChoices):
    READ = "read"
    WRITE = "write"


class ApiToken(models.Model):
    """Only a SHA-256 hash of the secret is kept: a leaked database does not leak tokens."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    # The first characters of the secret, so a user can tell their tokens apart.
    prefix = models.CharField(max_length=24)
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.CharField(max_length=32, help_text="space-separated: read, or read write")
    expires_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    # Revoked tokens are kept (not deleted) so support staff can see what existed and when.
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [models.Index(fields=["user", "-created_at"], name="apitoken_user_created_idx")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"

    @property
    def scope_set(self) -> frozenset[str]:
        return frozenset(self.scopes.split())

    @property
    def scope_list(self) -> list[str]:
        return sorted(self.scope_set)

    @property
    def can_write(self) -> bool:
        return Scope.WRITE in self.scope_set

    def is_active(self) -> bool:
        if self.revoked_at is not None:
            return False
        return self.expires_at is None or self.expires_at > timezone.now()
