"""Optional OpenTelemetry tracing: one tracer provider per process, set up from `settings.tracing`.

With tracing off (the default) nothing but the OpenTelemetry API is loaded, `get_tracer()` is None and
every helper here is a no-op. The provider is kept here rather than installed as OpenTelemetry's global
one: the global can be set only once per process, while tests install and shut down one per test.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import Token
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, StatusCode, Tracer
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.types import AttributeValue
from sqlalchemy import event

from core.settings import Settings

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from sqlalchemy.ext.asyncio import AsyncEngine

INSTRUMENTATION_NAME = "v1tr0"
STATEMENT_LIMIT = 500
SPAN_KEY = "_v1tr0_span"  # where a statement's span waits on SQLAlchemy's execution context

PROPAGATOR = TraceContextTextMapPropagator()


@dataclass
class _Tracing:
    provider: TracerProvider
    tracer: Tracer
    users: int = 1


_active: _Tracing | None = None


def setup_tracing(settings: Settings, component: str, *, exporter: SpanExporter | None = None) -> None:
    """Install this process's tracer provider when tracing is enabled; `component` is "api" or "worker".

    Spans go to `exporter` one by one when given (tests), otherwise in batches over OTLP/HTTP. A call
    while a provider is installed (the API and a worker in one process, or a test that installed its
    own exporter first) shares it; each call is paired with a `shutdown_tracing`, and the last one
    flushes and removes the provider."""
    global _active
    config = settings.tracing
    if not config.enabled:
        return
    if _active is not None:
        _active.users += 1
        return

    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    resource = Resource.create(
        {
            "service.name": config.service_name,
            "service.instance.id": f"{component}-{socket.gethostname()}-{os.getpid()}",
            "v1tr0.component": component,
        }
    )
    ratio = TraceIdRatioBased(config.sample_ratio)
    # Our own spans follow their parent; a caller's `traceparent` cannot force sampling past the ratio.
    sampler = ParentBased(ratio, remote_parent_sampled=ratio)
    provider = TracerProvider(resource=resource, sampler=sampler)
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=config.endpoint)))
    if config.console:
        provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter()))
    _active = _Tracing(provider, provider.get_tracer(INSTRUMENTATION_NAME))


def shutdown_tracing(settings: Settings) -> None:
    """Undo `setup_tracing(settings, ...)`: the last user flushes the spans still queued (blocking,
    up to the exporter's timeout) and removes the provider."""
    global _active
    if not settings.tracing.enabled or _active is None:
        return
    _active.users -= 1
    if _active.users > 0:
        return
    provider, _active = _active.provider, None
    provider.shutdown()


def get_tracer() -> Tracer | None:
    """The process's tracer, or None when tracing is off (callers then skip all span work)."""
    return _active.tracer if _active is not None else None


@contextmanager
def traced(
    name: str,
    *,
    kind: SpanKind = SpanKind.INTERNAL,
    attributes: Mapping[str, AttributeValue] | None = None,
    parent: otel_context.Context | None = None,
) -> Iterator[Span]:
    """A span that is current inside the block (its exception is recorded and marks it an error); with
    tracing off, a do-nothing span. `parent` replaces the current context (a job's stored one)."""
    tracer = get_tracer()
    if tracer is None:
        yield trace.INVALID_SPAN
        return
    with tracer.start_as_current_span(name, context=parent, kind=kind, attributes=attributes) as span:
        yield span


def start_span(
    name: str, *, kind: SpanKind = SpanKind.INTERNAL, attributes: Mapping[str, AttributeValue] | None = None
) -> Span:
    """A span that is not made current, for work that outlives one block (a streamed answer); the
    caller ends it. With tracing off, a do-nothing span."""
    tracer = get_tracer()
    if tracer is None:
        return trace.INVALID_SPAN
    return tracer.start_span(name, kind=kind, attributes=attributes)


def mark_failed(span: Span, exc: BaseException | None = None) -> None:
    if exc is not None:
        span.record_exception(exc)
    span.set_status(StatusCode.ERROR)


def current_traceparent() -> str | None:
    """The W3C `traceparent` of the current span (what an outbox row keeps), or None outside a trace."""
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")


def context_from(traceparent: str | None, tracestate: str | None = None) -> otel_context.Context:
    """The context a `traceparent` (an incoming header, a stored outbox value) continues; an empty one
    (a new trace) when it is missing or malformed."""
    carrier = {"traceparent": traceparent or ""}
    if tracestate:
        carrier["tracestate"] = tracestate
    return PROPAGATOR.extract(carrier, context=otel_context.Context())


# HTTP: one SERVER span per request, opened and closed by api/middleware.py.


@dataclass
class ServerSpan:
    span: Span
    token: Token[otel_context.Context]

    def finish(self, *, method: str, route: str | None, status: int, error: BaseException | None) -> None:
        if route:
            self.span.update_name(f"{method} {route}")
            self.span.set_attribute("http.route", route)
        self.span.set_attribute("http.response.status_code", status)
        if status >= 500:
            mark_failed(self.span, error)
        self.span.end()
        otel_context.detach(self.token)


def start_server_span(
    *, method: str, path: str, scheme: str, request_id: str, traceparent: str | None, tracestate: str | None
) -> ServerSpan | None:
    """The request's span, current until `finish`; it continues the caller's trace when the request
    carries a `traceparent`. Named by the method alone until the route is known. None with tracing off."""
    tracer = get_tracer()
    if tracer is None:
        return None
    span = tracer.start_span(
        method,
        context=context_from(traceparent, tracestate),
        kind=SpanKind.SERVER,
        attributes={
            "http.request.method": method,
            "url.path": path,
            "url.scheme": scheme,
            "v1tr0.request_id": request_id,
        },
    )
    return ServerSpan(span, otel_context.attach(trace.set_span_in_context(span)))


# Jobs: one CONSUMER span per arq job, continuing the trace that caused it when it was stored.


@contextmanager
def job_span(
    job: str,
    *,
    job_id: str | None,
    traceparent: str | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> Iterator[Span]:
    values: dict[str, AttributeValue] = {
        "messaging.system": "arq",
        "messaging.operation.type": "process",
        "messaging.destination.name": job,
        **(attributes or {}),
    }
    if job_id:
        values["messaging.message.id"] = job_id
    parent = context_from(traceparent) if traceparent else None
    with traced(job, kind=SpanKind.CONSUMER, attributes=values, parent=parent) as span:
        yield span


def record_outcome(span: Span, outcome: str) -> None:
    """A job that handled its own failure (recorded it for the user) still shows as an error."""
    span.set_attribute("v1tr0.job.outcome", outcome)
    if outcome == "failed":
        mark_failed(span)


# Database: one CLIENT span per SQL statement, inside a traced request or job (the worker's background
# sweeps run every second and would otherwise each make a trace of their own).


def instrument_engine(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", _statement_started)
    event.listen(sync_engine, "after_cursor_execute", _statement_finished)
    event.listen(sync_engine, "handle_error", _statement_failed)


def _start_statement_span(statement: str) -> Span | None:
    tracer = get_tracer()
    if tracer is None or not trace.get_current_span().get_span_context().is_valid:
        return None
    words = statement.split(None, 1)
    operation = words[0].upper() if words else "db.query"
    return tracer.start_span(
        operation,
        kind=SpanKind.CLIENT,
        attributes={
            "db.system": "postgresql",
            "db.operation": operation,
            "db.statement": statement[:STATEMENT_LIMIT],  # the text only: parameters are never recorded
        },
    )


@contextmanager
def statement_span(statement: str) -> Iterator[None]:
    """The span of a statement sent without SQLAlchemy's engine (core/reads.py), like the engine's own."""
    span = _start_statement_span(statement)
    if span is None:
        yield
        return
    try:
        yield
    except BaseException as exc:
        mark_failed(span, exc)
        raise
    finally:
        span.end()


def _statement_started(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    if context is None:
        return
    span = _start_statement_span(statement)
    if span is not None:
        setattr(context, SPAN_KEY, span)


def _statement_finished(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> None:
    span: Span | None = getattr(context, SPAN_KEY, None)
    if span is not None:
        setattr(context, SPAN_KEY, None)
        span.end()


def _statement_failed(exception_context: Any) -> None:
    context = exception_context.execution_context
    span: Span | None = getattr(context, SPAN_KEY, None)
    if span is not None:
        setattr(context, SPAN_KEY, None)
        mark_failed(span, exception_context.original_exception)
        span.end()
