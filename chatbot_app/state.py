"""The state port: where conversation memory lives.

With `EVENT_RUNTIME=dapr` it is the Dapr state store (component `statestore`, a
`state.postgresql` store kept apart from the task tables); otherwise a table in our own
database. Only chatbot conversations go through here; task data never does.
"""

from __future__ import annotations

import json
import logging
import threading
from typing import TYPE_CHECKING, Any, Protocol

from django.conf import settings

from chatbot_app.models import StateEntry

if TYPE_CHECKING:
    from dapr.clients import DaprClient

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
    """Talks to the sidecar's state API; values travel as JSON so state.postgresql stores JSONB.

    The client (a gRPC channel with a deadline on every call) is made on first use and kept;
    after a failure it is dropped, so the next call reconnects.
    """

    metadata = {"contentType": "application/json"}

    def __init__(self, store_name: str | None = None) -> None:
        self.store_name = store_name or settings.DAPR_STATE_STORE
        self._client: DaprClient | None = None
        self._lock = threading.Lock()

    def _call(self, method: str, **kwargs: Any) -> Any:
        from webapp.events.dapr_client import make_client

        try:
            with self._lock:
                if self._client is None:
                    self._client = make_client()
                client = self._client
            return getattr(client, method)(store_name=self.store_name, **kwargs)
        except Exception as exc:  # DaprGrpcError, or TimeoutError while the sidecar starts
            with self._lock:
                broken, self._client = self._client, None
            if broken is not None:
                broken.close()  # type: ignore[no-untyped-call]
            logger.warning("state store call failed", extra={"store": self.store_name})
            raise StateUnavailable(f"state store {self.store_name!r}: {exc}") from exc

    def get(self, key: str) -> Any | None:
        response = self._call("get_state", key=key, state_metadata=self.metadata)
        raw: bytes = response.data
        if not raw:  # Dapr answers an empty value for a key it does not have
            return None
        return json.loads(raw)

    def save(self, key: str, value: Any) -> None:
        self._call(
            "save_state",
            key=key,
            value=json.dumps(value, separators=(",", ":")),
            state_metadata=self.metadata,
        )

    def delete(self, key: str) -> None:
        self._call("delete_state", key=key)


_shared_dapr_ports: dict[str, DaprStatePort] = {}
_shared_lock = threading.Lock()


def get_state_port() -> StatePort:
    if settings.EVENT_RUNTIME != "dapr":
        return TableStatePort()
    from dapr.conf import settings as dapr_settings

    # One port (one channel) per sidecar address: made once, reused by every request.
    address = f"{dapr_settings.DAPR_GRPC_ENDPOINT}|{dapr_settings.DAPR_GRPC_PORT}"
    with _shared_lock:
        port = _shared_dapr_ports.get(address)
        if port is None:
            port = _shared_dapr_ports[address] = DaprStatePort()
    return port
