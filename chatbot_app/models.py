"""Conversation memory kept in the database when there is no Dapr state store."""

from __future__ import annotations

from django.db import models


class StateEntry(models.Model):
    """One key of the table-backed state port; the value is the JSON the caller saved.

    Keys carry their owner (`conversation:<user id>:<id>`), as they do in the Dapr store, so the
    two back ends hold exactly the same data.
    """

    key = models.CharField(max_length=300, primary_key=True)
    value = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "state entries"

    def __str__(self) -> str:
        return self.key
