"""Recurring series: a template plus an RFC 5545 rule that materialises tasks."""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from tasks_app.models import Priority


class Anchor(models.TextChoices):
    DUE = "due"
    COMPLETION = "completion"


class SeriesStatus(models.TextChoices):
    ACTIVE = "active"
    COMPLETED = "completed"
    DELETED = "deleted"


class RecurringSeries(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="series"
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.MEDIUM)
    tags = ArrayField(models.CharField(max_length=32), default=list, blank=True)
    # Reminder templates copied onto each instance, e.g. [{"before": "PT1H"}].
    reminder_templates = models.JSONField(default=list, blank=True)
    rule = models.CharField(max_length=500)
    timezone = models.CharField(max_length=64)
    dtstart = models.DateTimeField()
    excluded = ArrayField(models.DateTimeField(), default=list, blank=True)
    anchor = models.CharField(max_length=16, choices=Anchor.choices, default=Anchor.DUE)
    lead_time = models.DurationField(default=timedelta(0))
    status = models.CharField(
        max_length=16, choices=SeriesStatus.choices, default=SeriesStatus.ACTIVE
    )
    # The next occurrence the job materialises (anchor=due); None when the rule is exhausted
    # or the series is anchored on completion (which has no job).
    next_occurrence = models.DateTimeField(null=True, blank=True)
    # When the series' job is due to fire (next_occurrence - lead_time + jitter); what the
    # reschedule command restores and what job lag is measured against.
    job_due_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "recurring series"
        indexes = [
            models.Index(fields=["owner", "status"], name="series_owner_status_idx"),
            # The storm sweep claims due series in trigger order.
            models.Index(
                fields=["job_due_at"],
                name="series_job_due_idx",
                condition=models.Q(status="active", job_due_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.rule})"
