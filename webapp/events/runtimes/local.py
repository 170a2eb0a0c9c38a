"""The local runtime of the embedded shape (to be given worker threads and a job timer)."""

from __future__ import annotations

from webapp.events.runtimes.inline import InlineRuntime


class LocalRuntime(InlineRuntime):
    name = "local"
