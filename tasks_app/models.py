"""Tasks: the unit of work a user owns."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import models


class Status(models.TextChoices):
    PENDING = "pending"
    COMPLETED = "completed"


class Priority(models.IntegerChoices):
    """Stored as numbers so that sorting follows urgency; the API speaks names only."""

    LOW = 1, "low"
    MEDIUM = 2, "medium"
    HIGH = 3, "high"
    URGENT = 4, "urgent"

    @classmethod
    def from_name(cls, name: str) -> Priority:
        return {member.label: member for member in cls}[name]


class Task(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="tasks"
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.MEDIUM)
    tags = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    due_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    series = models.ForeignKey(
        "recurrence_app.RecurringSeries",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="instances",
    )
    # The occurrence of its series this task stands for; with `series`, unique.
    occurrence = models.DateTimeField(null=True, blank=True)
    is_exception = models.BooleanField(default=False)
    # Maintained by a database trigger (see migration 0002): title A, tags B, description C.
    search_vector = SearchVectorField(null=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # The two ordering indexes follow the default list order key for key (see
        # filters.task_order), so the first page of a list is read off an index, not sorted.
        indexes = [
            models.Index(
                "owner",
                models.F("priority").desc(),
                models.F("due_at").asc(nulls_last=True),
                models.F("created_at").desc(),
                "id",
                name="task_owner_order_idx",
            ),
            models.Index(
                "owner",
                "status",
                models.F("priority").desc(),
                models.F("due_at").asc(nulls_last=True),
                models.F("created_at").desc(),
                "id",
                name="task_owner_status_order_idx",
            ),
            models.Index(fields=["owner", "due_at"], name="task_owner_due_idx"),
            models.Index(fields=["owner", "created_at"], name="task_owner_created_idx"),
            models.Index(fields=["owner", "updated_at"], name="task_owner_updated_idx"),
            GinIndex(fields=["tags"], name="task_tags_gin"),
            GinIndex(fields=["search_vector"], name="task_search_gin"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["series", "occurrence"],
                name="task_unique_occurrence",
                condition=models.Q(series__isnull=False),
            ),
            models.CheckConstraint(
                condition=models.Q(status="pending", completed_at__isnull=True)
                | models.Q(status="completed", completed_at__isnull=False),
                name="task_completed_at_matches_status",
            ),
        ]

    def __str__(self) -> str:
        return self.title

    # Where selectors.with_reminders puts a task's reminders: a prefetch to a plain list
    # costs a fraction of one to the related manager, per task of a page.
    REMINDERS_LOADED = "reminders_loaded"

    @property
    def reminders_shown(self) -> Any:
        """The task's reminders: as loaded by the selectors, else read now."""
        loaded = self.__dict__.get(self.REMINDERS_LOADED)
        return loaded if loaded is not None else self.reminders.all()
