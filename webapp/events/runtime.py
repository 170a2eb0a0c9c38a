"""Event runtimes: how published events reach subscribers and how jobs are kept and fired.

`EVENT_RUNTIME` picks one: `inline` (tests), `local` (the embedded shape), `dapr` (Kubernetes).
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from datetime import datetime
from typing import Any

from django.conf import settings

from webapp.events.models import OutboxEvent

logger = logging.getLogger(__name__)


class EventRuntime(ABC):
    name: str

    @abstractmethod
    def outbox_committed(self) -> None:
        """Called after a transaction that emitted events commits."""

    @abstractmethod
    def publish(self, row: OutboxEvent) -> None:
        """Hand one event to the transport; raise if it was not accepted."""

    @abstractmethod
    def schedule_job(self, *, name: str, due_at: datetime, data: dict[str, Any]) -> None:
        """Create or replace the job `name`, firing once at `due_at`."""

    @abstractmethod
    def cancel_job(self, *, name: str) -> None:
        """Delete the job `name`; a job that does not exist is not an error."""

    def health_problem(self) -> str | None:
        return None

    def start(self) -> None:
        """Begin background work (relay, timers); a no-op for runtimes that have none."""
        return None

    def stop(self) -> None:
        """Finish the work in hand and stop background threads."""
        return None


_runtime: EventRuntime | None = None
_lock = threading.Lock()


def build_runtime(name: str) -> EventRuntime:
    if name == "inline":
        from webapp.events.runtimes.inline import InlineRuntime

        return InlineRuntime()
    if name == "local":
        from webapp.events.runtimes.local import LocalRuntime

        return LocalRuntime()
    if name == "dapr":
        from webapp.events.runtimes.dapr import DaprRuntime

        return DaprRuntime()
    raise ValueError(f"unknown event runtime {name!r}")


def get_runtime() -> EventRuntime:
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = build_runtime(settings.EVENT_RUNTIME)
        return _runtime


def set_runtime(runtime: EventRuntime | None) -> None:
    """Install a runtime (tests, worker processes); None resets to the configured one."""
    global _runtime
    with _lock:
        _runtime = runtime
