"""Writes to chatbot conversation memory (through the state port, never the task tables)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils import timezone

from chatbot_app.state import StatePort, get_state_port

MAX_MESSAGES = 200
MAX_BYTES = 256 * 1024
ROLES = ("user", "assistant", "system", "tool")
CONVERSATION_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")


def conversation_key(*, user_id: int, conversation_id: str) -> str:
    """The state key; the owner is part of it, so one user can never read another's."""
    if not CONVERSATION_ID.match(conversation_id):
        raise ValidationError(
            {"id": ["Use 1-100 characters of letters, digits, '_' or '-' (a slug or a UUID)."]}
        )
    return f"conversation:{user_id}:{conversation_id}"


def conversation_save(
    *,
    user: User,
    conversation_id: str,
    messages: Sequence[Mapping[str, Any]],
    port: StatePort | None = None,
) -> dict[str, Any]:
    """Replace the conversation's messages; returns what was stored.

    Bounded so one chat cannot grow without limit: at most MAX_MESSAGES messages and MAX_BYTES
    of JSON. A client keeps a long chat under the bound by summarising older turns.
    """
    key = conversation_key(user_id=user.pk, conversation_id=conversation_id)
    if len(messages) > MAX_MESSAGES:
        raise ValidationError(
            {"messages": [f"At most {MAX_MESSAGES} messages; summarise older ones."]}
        )
    cleaned = [{"role": str(m["role"]), "content": str(m["content"])} for m in messages]
    for position, message in enumerate(cleaned, start=1):
        if message["role"] not in ROLES:
            raise ValidationError(
                {"messages": [f"Message {position}: role must be one of {', '.join(ROLES)}."]}
            )
    size = len(json.dumps(cleaned, ensure_ascii=False).encode())
    if size > MAX_BYTES:
        raise ValidationError(
            {"messages": [f"The messages take {size} bytes; at most {MAX_BYTES} are kept."]}
        )
    value = {"messages": cleaned, "updated_at": timezone.now().isoformat()}
    (port or get_state_port()).save(key, value)
    return {"id": conversation_id, **value}


def conversation_delete(*, user: User, conversation_id: str, port: StatePort | None = None) -> None:
    key = conversation_key(user_id=user.pk, conversation_id=conversation_id)
    (port or get_state_port()).delete(key)
