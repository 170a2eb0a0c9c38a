"""API shapes of conversation memory."""

from __future__ import annotations

from rest_framework import serializers

from chatbot_app.services import MAX_MESSAGES, ROLES
from webapp.api.serializers import StrictSerializer


class MessageSerializer(StrictSerializer):
    role = serializers.ChoiceField(choices=ROLES)
    content = serializers.CharField(allow_blank=True, trim_whitespace=False)


class ConversationInputSerializer(StrictSerializer):
    read_only_names = ("id", "updated_at")

    messages = serializers.ListField(child=MessageSerializer(), max_length=MAX_MESSAGES)


class ConversationSerializer(serializers.Serializer[dict[str, object]]):
    id = serializers.CharField(read_only=True)
    messages = MessageSerializer(many=True, read_only=True)
    updated_at = serializers.DateTimeField(read_only=True)
