"""Reminders on tasks and the deliveries they cause."""

from __future__ import annotations

import uuid

from django.contrib.postgres.fields import ArrayField
from django.db import models

from tasks_app.models import Task


class Channel(models.TextChoices):
    EMAIL = "email"
    PUSH = "push"
    IN_APP = "in_app"


class ReminderStatus(models.TextChoices):
    SCHEDULED = "scheduled"
    SENT = "sent"
    PARTIALLY_SENT = "partially_sent"
    SKIPPED = "skipped"
    CANCELLED = "cancelled"
    FAILED = "failed"


class Reminder(models.Model):
    """Fires `before` the task's due time, or at the absolute time `at` (exactly one is set)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="reminders")
    before = models.DurationField(null=True, blank=True)
    at = models.DateTimeField(null=True, blank=True)
    channels = ArrayField(models.CharField(max_length=16, choices=Channel.choices), default=list)
    fire_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=ReminderStatus.choices, default=ReminderStatus.SCHEDULED
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["fire_at", "created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(before__isnull=False, at__isnull=True)
                | models.Q(before__isnull=True, at__isnull=False),
                name="reminder_before_xor_at",
            )
        ]

    def __str__(self) -> str:
        return f"reminder {self.id} for {self.task_id}"
