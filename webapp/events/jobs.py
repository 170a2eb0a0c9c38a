"""The jobs port: schedule or cancel a one-shot job by name through the configured runtime.

Call it inside the transaction of the change that needs the job: the local and inline runtimes
keep jobs in a table (so the job commits with the change), and under Dapr a failed call rolls
the change back so the triggering event is retried. Job handlers re-check the database, so a
job that outlives a rolled-back change does no harm.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from webapp.events.runtime import get_runtime


def schedule(*, name: str, due_at: datetime, data: dict[str, Any] | None = None) -> None:
    get_runtime().schedule_job(name=name, due_at=due_at, data=data or {})


def cancel(*, name: str) -> None:
    get_runtime().cancel_job(name=name)
