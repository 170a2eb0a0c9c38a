"""Reads of chatbot conversation memory."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.http import Http404

from chatbot_app.services import conversation_key
from chatbot_app.state import StatePort, get_state_port


def conversation_get(
    *, user: User, conversation_id: str, port: StatePort | None = None
) -> dict[str, Any]:
    """The user's conversation, or a 404 (also for another user's id: keys include the owner)."""
    key = conversation_key(user_id=user.pk, conversation_id=conversation_id)
    value = (port or get_state_port()).get(key)
    if not isinstance(value, dict):
        raise Http404("No such conversation.")
    return {
        "id": conversation_id,
        "messages": value.get("messages", []),
        "updated_at": value.get("updated_at"),
    }
