"""W3C trace context from a request into the events it causes, and from an event into the logs
of every handler that consumes it, so one trace id links a request to all its consumers.

Always on, and nearly free: a request's `traceparent` header (from the ingress, or daprd) is
carried into each CloudEvent it emits as the CloudEvents distributed-tracing extension
(`traceparent`, `tracestate`), and a handler's log lines carry the event's `trace_id`.

Spans are off by default (OTEL_ENABLED false: `make run`, the tests) and then nothing is
imported from the SDK, no span is made and nothing is exported. With OTEL_ENABLED (the chart
turns it on beside Dapr's own tracing) each request and each handled event is a span, exported
to Zipkin (OTEL_EXPORTER_ZIPKIN_ENDPOINT) and sampled at OTEL_TRACES_SAMPLER_ARG, the same
rate the Dapr Configuration gives the sidecars.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import structlog
from django.conf import settings
from django.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from opentelemetry.trace import Tracer

# version-traceid-parentid-flags; an all-zero trace or parent id is invalid (W3C Trace Context).
_TRACEPARENT = re.compile(r"^00-(?!0{32})([0-9a-f]{32})-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$")
_TRACESTATE_MAX = 512

# The trace context (traceparent, and tracestate if any) of the work this thread is doing.
_current: ContextVar[dict[str, str] | None] = ContextVar("trace_context", default=None)
_tracer: Tracer | None = None


def trace_context() -> dict[str, str]:
    """The CloudEvents tracing extension attributes for an event emitted now ({} if none)."""
    return dict(_current.get() or {})


def trace_id(traceparent: str) -> str | None:
    match = _TRACEPARENT.match(traceparent)
    return match.group(1) if match else None


def incoming(carrier: Mapping[str, Any]) -> dict[str, str]:
    """A valid traceparent (and tracestate) from headers or a CloudEvent; {} otherwise."""
    traceparent = str(carrier.get("traceparent") or "").strip().lower()
    if not trace_id(traceparent):
        return {}
    context = {"traceparent": traceparent}
    tracestate = str(carrier.get("tracestate") or "").strip()
    if tracestate and len(tracestate) <= _TRACESTATE_MAX:
        context["tracestate"] = tracestate
    return context


def tracer() -> Tracer | None:
    """The SDK tracer when OTEL_ENABLED, set up on first use; None (and no import) when off."""
    global _tracer
    if not settings.OTEL_ENABLED:
        return None
    if _tracer is None:
        from opentelemetry import trace
        from opentelemetry.exporter.zipkin.json import ZipkinExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

        provider = TracerProvider(
            resource=Resource.create({"service.name": settings.OTEL_SERVICE_NAME}),
            # Follow the caller's decision (daprd, the ingress); sample new traces at the rate.
            sampler=ParentBased(TraceIdRatioBased(settings.OTEL_SAMPLING_RATE)),
        )
        provider.add_span_processor(
            BatchSpanProcessor(ZipkinExporter(endpoint=settings.OTEL_EXPORTER_ZIPKIN_ENDPOINT))
        )
        trace.set_tracer_provider(provider)
        _tracer = trace.get_tracer("todo")
    return _tracer


@contextmanager
def continued(parent: dict[str, str], name: str, *, kind: str) -> Iterator[dict[str, str]]:
    """Continue the trace `parent` (maybe {}) for the work in the block, with a span when on.

    Inside, trace_context() is the context to pass on and log lines carry its trace_id.
    """
    active = tracer()
    if active is None:
        with _current_as(parent):
            yield parent
        return
    from opentelemetry.propagate import extract, inject
    from opentelemetry.trace import SpanKind

    with active.start_as_current_span(
        name, context=extract(parent), kind=getattr(SpanKind, kind)
    ) as span:
        child: dict[str, str] = {}
        inject(child)
        context = incoming(child) or parent
        span.set_attribute("todo.parent_remote", bool(parent))
        with _current_as(context):
            yield context


@contextmanager
def _current_as(context: dict[str, str]) -> Iterator[None]:
    token = _current.set(context or None)
    found = trace_id(context.get("traceparent", "")) if context else None
    if found:
        structlog.contextvars.bind_contextvars(trace_id=found)
    try:
        yield
    finally:
        _current.reset(token)
        if found:
            structlog.contextvars.unbind_contextvars("trace_id")


@contextmanager
def handling_event(envelope: Mapping[str, Any], consumer: str) -> Iterator[None]:
    """Around a handler: its logs carry the event's trace id, the events it emits continue the
    trace, and with spans on it is a CONSUMER span under the request's."""
    with continued(incoming(envelope), f"consume {envelope.get('type', 'event')}", kind="CONSUMER"):
        structlog.contextvars.bind_contextvars(consumer=consumer)
        try:
            yield
        finally:
            structlog.contextvars.unbind_contextvars("consumer")


class TraceContextMiddleware:
    """Continues the caller's trace for the request (a SERVER span when spans are on)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        parent = incoming(request.headers)
        if not parent and not settings.OTEL_ENABLED:
            return self.get_response(request)
        # Named by method only: paths hold ids, and span names should be few.
        with continued(parent, f"HTTP {request.method}", kind="SERVER") as context:
            response = self.get_response(request)
        found = trace_id(context.get("traceparent", ""))
        if found:
            # The access log line, written after this returns, keeps the trace id.
            structlog.contextvars.bind_contextvars(trace_id=found)
        return response
