"""Reminders on tasks, the deliveries they cause, push devices and per-user preferences."""

from __future__ import annotations

import uuid

from django.conf import settings
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
    # Set by the job that claims the reminder: a second trigger finds it set and sends nothing.
    fired_at = models.DateTimeField(null=True, blank=True)
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


def reminder_job_name(reminder_id: uuid.UUID | str) -> str:
    return f"reminder-{reminder_id}"


class ReminderJob(models.Model):
    """The reminder jobs the notifications worker has scheduled, by task.

    Deliberately without foreign keys: when a task is deleted its reminders cascade away with
    it, and this row is what tells the deleted-event consumer which jobs to cancel.
    """

    name = models.CharField(max_length=200, primary_key=True)
    task_id = models.UUIDField(db_index=True)
    reminder_id = models.UUIDField()
    due_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.name} at {self.due_at.isoformat()}"


class NotificationStatus(models.TextChoices):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"


class Notification(models.Model):
    """One delivery of a reminder on one channel; the in-app rows are the user's feed."""

    id = models.BigAutoField(primary_key=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    # Kept when the task or reminder goes: the delivery log outlives what caused it.
    reminder = models.ForeignKey(
        Reminder, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    task = models.ForeignKey(
        Task, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications"
    )
    channel = models.CharField(max_length=16, choices=Channel.choices)
    status = models.CharField(
        max_length=16, choices=NotificationStatus.choices, default=NotificationStatus.PENDING
    )
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True, default="")
    link = models.CharField(max_length=500, blank=True, default="")
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    # Who is delivering a pending email or push, and until when. Whoever hands rows to sending
    # threads takes a lease on them and schedules a check job for when it lapses; a sender
    # that stopped (crash, restart) lets it lapse, and the check job hands the rows on.
    lease_token = models.UUIDField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "-created_at", "-id"], name="notification_feed_idx"),
            models.Index(
                fields=["created_at"],
                name="notification_pending_idx",
                condition=models.Q(status="pending"),
            ),
            models.Index(
                fields=["lease_token"],
                name="notification_lease_idx",
                condition=models.Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.channel} notification {self.pk} ({self.status})"


class Platform(models.TextChoices):
    ANDROID = "android"
    IOS = "ios"
    WEB = "web"


class Device(models.Model):
    """A push token of one of the user's devices (FCM registration token)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="devices"
    )
    token = models.CharField(max_length=4096, unique=True)
    platform = models.CharField(max_length=16, choices=Platform.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at"]

    def __str__(self) -> str:
        return f"{self.platform} device of user {self.user_id}"


class NotificationSettings(models.Model):
    """A user's channels on or off, and the time zone their reminders show times in."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        primary_key=True,
        on_delete=models.CASCADE,
        related_name="notification_settings",
    )
    email = models.BooleanField(default=True)
    push = models.BooleanField(default=True)
    in_app = models.BooleanField(default=True)
    timezone = models.CharField(max_length=64, default="UTC")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "notification settings"

    def __str__(self) -> str:
        return f"notification settings of user {self.user_id}"

    def enabled_channels(self) -> list[str]:
        return [channel for channel in Channel.values if getattr(self, channel)]
