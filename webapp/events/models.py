"""Outbox (also the audit log and per-user change feed), consumer bookkeeping and local jobs."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models


class OutboxEvent(models.Model):
    """One CloudEvent, written in the transaction of the change it describes.

    The auto-increment primary key is the outbox sequence: it orders the relay and the feed.
    """

    sequence = models.BigAutoField(primary_key=True)
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    topic = models.CharField(max_length=100)
    type = models.CharField(max_length=100)
    subject = models.CharField(max_length=200)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    envelope = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    publish_attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["sequence"],
                name="outbox_pending_idx",
                condition=models.Q(published_at__isnull=True),
            ),
            models.Index(fields=["user", "sequence"], name="outbox_user_feed_idx"),
            models.Index(fields=["created_at"], name="outbox_created_idx"),
        ]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.type} {self.subject}"


class ProcessedEvent(models.Model):
    """Marks that `consumer` handled `event_id`; the unique pair makes redelivery a no-op."""

    consumer = models.CharField(max_length=100)
    event_id = models.UUIDField()
    processed_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["consumer", "event_id"], name="processed_once"),
        ]

    def __str__(self) -> str:
        return f"{self.consumer}:{self.event_id}"


class DeadLetter(models.Model):
    """An event a consumer failed on after its retries; kept for an operator to replay."""

    consumer = models.CharField(max_length=100)
    topic = models.CharField(max_length=100)
    event_id = models.UUIDField()
    envelope = models.JSONField()
    error = models.TextField()
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    replayed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["consumer", "created_at"], name="deadletter_consumer_idx")]

    def __str__(self) -> str:
        return f"{self.consumer} failed {self.event_id}"


class ParkedDelivery(models.Model):
    """The retry schedule: an event one consumer failed on, waiting for its next attempt.

    A failed event is parked here instead of being retried in place, so the worker that
    failed on it moves on to other users' events at once. Order is kept per consumer and
    user (the partition key): while a user has a parked event for a consumer, that user's
    later events for the consumer are parked behind it (`next_attempt_at` empty) and
    delivered, oldest first, once it is through. The lowest row of a group is its head.
    """

    consumer = models.CharField(max_length=100)
    partition_key = models.CharField(max_length=100, blank=True)
    topic = models.CharField(max_length=100)
    event_id = models.UUIDField()
    envelope = models.JSONField()
    # Failed attempts so far (0 for an event parked behind another, never tried).
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["consumer", "event_id"], name="parked_once"),
        ]
        indexes = [
            models.Index(fields=["consumer", "partition_key", "id"], name="parked_group_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.consumer} waits on {self.event_id}"


class ScheduledJob(models.Model):
    """A job of the local and inline runtimes (the Dapr runtime keeps jobs in the Scheduler)."""

    name = models.CharField(max_length=200, unique=True)
    due_at = models.DateTimeField()
    data: models.JSONField[Any, Any] = models.JSONField(default=dict)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["due_at"], name="job_due_idx")]

    def __str__(self) -> str:
        return f"{self.name} at {self.due_at.isoformat()}"
