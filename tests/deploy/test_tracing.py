"""One trace id from a request to every consumer: the W3C `traceparent` of a request goes into
the CloudEvents it causes (the distributed-tracing extension), and a handler consuming the event
logs under that trace id and passes it on. Spans are off unless OTEL_ENABLED, and then cost
nothing; on, a request and a handled event are spans of the caller's trace."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import structlog
from django.contrib.auth.models import User
from django.db import connection
from django.utils import timezone
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from rest_framework.test import APIClient

from tests.conftest import create_task
from tests.deploy.conftest import ROOT
from webapp import tracing
from webapp.events import guard
from webapp.events.envelope import build_envelope
from webapp.events.models import OutboxEvent
from webapp.events.registry import Subscription

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER = f"00-{TRACE}-00f067aa0ba902b7-01"


@pytest.fixture(autouse=True)
def _committed_db(transactional_db: None) -> None:
    """These tests write tasks and events (conftest's no-op is for the static checks)."""


def task_envelopes() -> list[dict[str, Any]]:
    return [e.envelope for e in OutboxEvent.objects.filter(type="todo.task.created.v1")]


def test_a_requests_traceparent_travels_in_the_event_it_causes(api: APIClient) -> None:
    api.credentials(HTTP_TRACEPARENT=CALLER, HTTP_TRACESTATE="vendor=1", **_auth(api))
    create_task(api, title="Traced")

    (envelope,) = task_envelopes()
    assert envelope["traceparent"] == CALLER
    assert envelope["tracestate"] == "vendor=1"


@pytest.mark.parametrize("header", [None, "00-" + "0" * 32 + "-00f067aa0ba902b7-01", "junk"])
def test_an_event_carries_no_trace_without_a_valid_caller_trace(
    api: APIClient, header: str | None
) -> None:
    if header:
        api.credentials(HTTP_TRACEPARENT=header, **_auth(api))
    create_task(api, title="Untraced")

    (envelope,) = task_envelopes()
    assert "traceparent" not in envelope and "tracestate" not in envelope


def test_a_handler_logs_under_the_events_trace_and_passes_it_on(owner: User) -> None:
    seen: dict[str, Any] = {}

    def handler(envelope: dict[str, Any]) -> None:
        seen["log_context"] = structlog.contextvars.get_contextvars()
        seen["emitted"] = _envelope(owner)  # what an event emitted by the handler carries

    subscription = Subscription("tests.traced", "tests", "t", frozenset({"test.x.v1"}), handler)
    event = {**_envelope(owner), "traceparent": CALLER}

    assert guard.deliver_once(subscription, event)

    assert seen["log_context"]["trace_id"] == TRACE
    assert seen["log_context"]["consumer"] == "tests.traced"
    assert seen["emitted"]["traceparent"] == CALLER
    # Nothing leaks into what the thread does next.
    assert "trace_id" not in structlog.contextvars.get_contextvars()
    assert tracing.trace_context() == {}


@pytest.fixture
def spans(settings: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[InMemorySpanExporter]:
    """Spans on, recorded in memory instead of sent to Zipkin."""
    settings.OTEL_ENABLED = True
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    monkeypatch.setattr(tracing, "_tracer", provider.get_tracer("tests"))
    yield exporter
    provider.shutdown()


def test_with_spans_on_a_request_and_its_consumers_are_spans_of_the_callers_trace(
    api: APIClient, spans: InMemorySpanExporter
) -> None:
    api.credentials(HTTP_TRACEPARENT=CALLER, **_auth(api))
    create_task(api, title="Spanned", due_at="2030-01-01T09:00:00Z")

    (envelope,) = task_envelopes()
    finished = spans.get_finished_spans()
    (server,) = [s for s in finished if s.kind == SpanKind.SERVER]
    consumers = [s for s in finished if s.kind == SpanKind.CONSUMER]
    assert format(server.context.trace_id, "032x") == TRACE
    assert server.parent is not None and format(server.parent.span_id, "016x") == "00f067aa0ba902b7"
    # The event's parent is the request's span, in the same trace.
    assert envelope["traceparent"] == f"00-{TRACE}-{format(server.context.span_id, '016x')}-01"
    # The inline runtime delivered it to the workers' handlers: each a span under the request.
    assert consumers
    for span in consumers:
        assert span.context.trace_id == server.context.trace_id
        assert span.parent is not None and span.parent.span_id == server.context.span_id


def test_spans_off_import_and_export_nothing() -> None:
    """The default: serving a request loads no OpenTelemetry SDK (and so exports nothing)."""
    code = (
        "import django, sys; django.setup()\n"
        "from django.test import Client\n"
        "Client().get('/healthz', HTTP_TRACEPARENT='" + CALLER + "')\n"
        "Client().get('/api/schema/', HTTP_TRACEPARENT='" + CALLER + "')\n"
        "from django.conf import settings\n"
        "assert not settings.OTEL_ENABLED\n"
        "print(sorted(m for m in sys.modules if m.startswith('opentelemetry.sdk')))\n"
    )
    parts = urlsplit(os.environ["DATABASE_URL"])
    database = urlunsplit(parts._replace(path="/" + connection.settings_dict["NAME"]))
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**os.environ, "DATABASE_URL": database},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().splitlines()[-1] == "[]"


def _auth(api: APIClient) -> dict[str, str]:
    credentials: dict[str, str] = api._credentials  # type: ignore[attr-defined]
    return {k: v for k, v in credentials.items() if k == "HTTP_AUTHORIZATION"}


def _envelope(owner: User) -> dict[str, Any]:
    return build_envelope(
        event_id=uuid.uuid4(),
        type="test.x.v1",
        subject="x/1",
        time=timezone.now(),
        data={},
        partition_key=str(owner.pk),
    )


def test_a_worker_keeps_the_trace_daprd_delivers_with_the_event(owner: User) -> None:
    """daprd hands the CloudEvent's extensions over in TopicEventRequest.extensions; the worker
    keeps traceparent and tracestate so the handler logs under that trace."""
    from dapr.ext.grpc import SubscriptionMessage

    from tests.fakes.dapr_sidecar import topic_event_request
    from webapp.events.worker import envelope_from_message

    sent = {**_envelope(owner), "traceparent": CALLER, "tracestate": "vendor=1", "sequence": "1"}
    received = envelope_from_message(
        SubscriptionMessage(topic_event_request(sent, topic="task-operations"))
    )

    assert received["traceparent"] == CALLER
    assert received["tracestate"] == "vendor=1"
    assert "topic" not in received and "pubsubname" not in received
