"""The state port: where conversation memory lives.

With `EVENT_RUNTIME=dapr` it is the Dapr state store (component `statestore`, a
`state.postgresql` store kept apart from the task tables); otherwise a table in our own
database. Only chatbot conversations go through here; task data never does.
"""

from __future__ import annotations

import json
import logging
from typing import Any, Protocol

from django.conf import settings

from chatbot_app.models import StateEntry

logger = logging.getLogger(__name__)


class StateUnavailable(Exception):
    """The store could not be reached or refused the request."""


class StatePort(Protocol):
    def get(self, key: str) -> Any | None:
        """The JSON value saved under `key`, or None if there is none."""

    def save(self, key: str, value: Any) -> None:
        """Store a JSON-serialisable value under `key`, replacing what was there."""

    def delete(self, key: str) -> None:
        """Forget `key`; a missing key is not an error."""


class TableStatePort:
    def get(self, key: str) -> Any | None:
        entry = StateEntry.objects.filter(key=key).first()
        return None if entry is None else entry.value

    def save(self, key: str, value: Any) -> None:
        StateEntry.objects.update_or_create(key=key, defaults={"value": value})

    def delete(self, key: str) -> None:
        StateEntry.objects.filter(key=key).delete()


class DaprStatePort:
    """Talks to the sidecar's state API; values travel as JSON so state.postgresql stores JSONB."""

    metadata = {"contentType": "application/json"}

    def __init__(self, store_name: str | None = None) -> None:
        self.store_name = store_name or settings.DAPR_STATE_STORE

    def get(self, key: str) -> Any | None:
        from dapr.clients import DaprClient

        try:
            with DaprClient() as client:
                response = client.get_state(
                    store_name=self.store_name, key=key, state_metadata=self.metadata
                )
        except Exception as exc:  # DaprGrpcError, or TimeoutError while the sidecar starts
            raise StateUnavailable(f"state store {self.store_name!r}: {exc}") from exc
        raw: bytes = response.data
        if not raw:  # Dapr answers an empty value for a key it does not have
            return None
        return json.loads(raw)

    def save(self, key: str, value: Any) -> None:
        from dapr.clients import DaprClient

        try:
            with DaprClient() as client:
                client.save_state(
                    store_name=self.store_name,
                    key=key,
                    value=json.dumps(value, separators=(",", ":")),
                    state_metadata=self.metadata,
                )
        except Exception as exc:
            raise StateUnavailable(f"state store {self.store_name!r}: {exc}") from exc

    def delete(self, key: str) -> None:
        from dapr.clients import DaprClient

        try:
            with DaprClient() as client:
                client.delete_state(store_name=self.store_name, key=key)
        except Exception as exc:
            raise StateUnavailable(f"state store {self.store_name!r}: {exc}") from exc


def get_state_port() -> StatePort:
    if settings.EVENT_RUNTIME == "dapr":
        return DaprStatePort()
    return TableStatePort()
