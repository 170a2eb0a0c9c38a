"""Every response carries a request id, and log lines render as one JSON object each."""

from __future__ import annotations

import json
import logging

from django.test import Client

from webapp.logging_setup import logging_config


def test_a_request_id_is_generated_or_echoed(client: Client) -> None:
    generated = client.get("/healthz")["X-Request-ID"]
    echoed = client.get("/healthz", HTTP_X_REQUEST_ID="abc-123")["X-Request-ID"]

    assert len(generated) == 32 and echoed == "abc-123"


def test_json_lines_carry_extras_and_drop_terminal_colour_copies() -> None:
    config = logging_config(level="INFO", json=True)
    formatter = config["formatters"]["structured"]["()"](
        **{k: v for k, v in config["formatters"]["structured"].items() if k != "()"}
    )
    record = logging.LogRecord("uvicorn.error", logging.INFO, __file__, 1, "Started %s", (1,), None)
    record.color_message = "\x1b[36mStarted\x1b[0m"
    record.task_id = "t-1"

    line = json.loads(formatter.format(record))

    assert line["event"] == "Started 1" and line["level"] == "info"
    assert line["task_id"] == "t-1" and "color_message" not in line
    assert line["timestamp"].endswith("Z")
