"""CloudEvents 1.0 structured-mode envelopes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.conf import settings

from webapp.tracing import trace_context

SPEC_VERSION = "1.0"
DATA_CONTENT_TYPE = "application/json"


def rfc3339(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def build_envelope(
    *,
    event_id: uuid.UUID,
    type: str,
    subject: str,
    time: datetime,
    data: dict[str, Any],
    partition_key: str,
) -> dict[str, Any]:
    """The event as published; `sequence` is added once the outbox row has its number."""
    return {
        "specversion": SPEC_VERSION,
        "id": str(event_id),
        "source": settings.EVENT_SOURCE,
        "type": type,
        "subject": subject,
        "time": rfc3339(time),
        "datacontenttype": DATA_CONTENT_TYPE,
        "data": data,
        "partitionkey": partition_key,
        # CloudEvents distributed tracing: the trace of the request (or event) that caused it.
        **trace_context(),
    }
