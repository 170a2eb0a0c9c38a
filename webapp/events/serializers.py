"""Wire shapes of the change feed: query parameters in, CloudEvents envelopes out."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from webapp.api.serializers import StrictSerializer
from webapp.events.models import OutboxEvent
from webapp.events.selectors import FEED_DEFAULT_LIMIT, FEED_MAX_LIMIT


class EventFeedQuerySerializer(StrictSerializer):
    after = serializers.IntegerField(min_value=0, default=0)
    limit = serializers.IntegerField(
        min_value=1, max_value=FEED_MAX_LIMIT, default=FEED_DEFAULT_LIMIT
    )


class EventSerializer(serializers.Serializer[OutboxEvent]):
    """A CloudEvents 1.0 structured envelope, exactly as it was published."""

    def get_fields(self) -> dict[str, serializers.Field[Any, Any, Any, Any]]:
        # Declared here rather than as class attributes: `source` and `data` would shadow
        # attributes every DRF serializer field and serializer has.
        return {
            "specversion": serializers.CharField(),
            "id": serializers.UUIDField(),
            "source": serializers.CharField(),
            "type": serializers.CharField(),
            "subject": serializers.CharField(),
            "time": serializers.DateTimeField(),
            "datacontenttype": serializers.CharField(),
            "data": serializers.JSONField(),
            "partitionkey": serializers.CharField(help_text="the user id"),
            "sequence": serializers.CharField(help_text="the outbox sequence number, as a string"),
        }

    def to_representation(self, instance: OutboxEvent) -> dict[str, Any]:
        # The stored envelope is the published one; re-rendering field by field could drift.
        envelope: dict[str, Any] = dict(instance.envelope)
        envelope.setdefault("sequence", str(instance.sequence))
        return envelope


class EventFeedSerializer(serializers.Serializer[Any]):
    results = EventSerializer(many=True)
    next_after = serializers.IntegerField(
        help_text="pass as `after` to read on; the given `after` when there is nothing new"
    )
