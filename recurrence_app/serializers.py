"""API shapes of recurring series."""

from __future__ import annotations

from rest_framework import serializers

from recurrence_app.models import Anchor
from webapp.api.serializers import StrictSerializer


class RecurrenceInputSerializer(StrictSerializer):
    rule = serializers.CharField(max_length=500)
    timezone = serializers.CharField(max_length=64, default="UTC")
    anchor = serializers.ChoiceField(choices=Anchor.choices, default=Anchor.DUE)
    lead_time = serializers.DurationField(required=False)
