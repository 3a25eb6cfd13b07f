"""OpenTelemetry tracing (off unless `V1TR0_TRACING__ENABLED`): a server span per request named by its route
template, with its SQL statements as children; a caller's `traceparent` continued; 5xx marked as errors;
and a job continuing the trace of the request whose outbox row caused it. Spans go to an in-memory
exporter: nothing leaves the machine."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from api.app import create_app
from api.resources import Resources
from core import tracing
from core.logs import JsonFormatter
from core.models import SourceType
from core.providers.llm import Generation, OpenAIChatModel, Usage
from core.providers.openai_client import openai_client
from core.settings import Settings
from core.tracing import get_tracer, setup_tracing, shutdown_tracing
from tests.conftest import Factory, Servers, add_failing_routes, make_settings
from tests.ingestion.helpers import drain, new_document, new_project, outbox_rows
from tests.meetings.helpers import make_meeting, upload, vtt
from tests.retrieval.helpers import DONE, delta_chunk, streamed, usage_chunk

ROOT = Path(__file__).resolve().parents[2]
CALLER_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
CALLER_SPAN_ID = "00f067aa0ba902b7"
PROJECT_ROUTE = "GET /api/v1/projects/{project_id}"


@pytest.fixture
def traced_settings(servers: Servers) -> Settings:
    # A discard-port endpoint: should anything bypass the test exporter, it still stays on this machine.
    return make_settings(servers, tracing={"enabled": True, "endpoint": "http://127.0.0.1:9/v1/traces"})


@pytest.fixture
def spans(traced_settings: Settings) -> Iterator[InMemorySpanExporter]:
    """Tracing on, into memory. The app and the worker share this provider (setup_tracing is idempotent)."""
    exporter = InMemorySpanExporter()
    setup_tracing(traced_settings, "api", exporter=exporter)
    try:
        yield exporter
    finally:
        shutdown_tracing(traced_settings)
    assert get_tracer() is None


@pytest.fixture
async def traced_resources(traced_settings: Settings, resources: Resources) -> AsyncIterator[Resources]:
    """Resources of a traced process: their engine reports its statements."""
    res = Resources.open(traced_settings)
    try:
        yield res
    finally:
        await res.close()


@pytest.fixture
def traced_app(traced_settings: Settings, traced_resources: Resources) -> FastAPI:
    return add_failing_routes(
        create_app(traced_settings, resources=traced_resources), traced_resources.engine, error="boom"
    )


@pytest.fixture
async def traced_client(traced_app: FastAPI, spans: InMemorySpanExporter) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=traced_app), base_url="http://test"
    ) as http:
        yield http


def finished(exporter: InMemorySpanExporter) -> list[ReadableSpan]:
    return list(exporter.get_finished_spans())


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [span for span in finished(exporter) if span.name == name]


def one(exporter: InMemorySpanExporter, name: str) -> ReadableSpan:
    matches = named(exporter, name)
    assert len(matches) == 1, [span.name for span in finished(exporter)]
    return matches[0]


def children(exporter: InMemorySpanExporter, parent: ReadableSpan) -> list[ReadableSpan]:
    assert parent.context is not None
    return [
        span
        for span in finished(exporter)
        if span.parent is not None and span.parent.span_id == parent.context.span_id
    ]


def trace_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.trace_id, "032x")


def span_id(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.span_id, "016x")


@pytest.fixture
def request_lines() -> Iterator[list[dict[str, object]]]:
    """The middleware's JSON "request" log lines, formatted while the request's span is current."""
    lines: list[dict[str, object]] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(json.loads(JsonFormatter().format(record)))

    handler = Collect()
    logger = logging.getLogger("v1tr0.http")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


async def test_a_request_is_a_server_span_named_by_its_route_with_its_sql_as_children(
    traced_client: httpx.AsyncClient,
    spans: InMemorySpanExporter,
    factory: Factory,
    request_lines: list[dict[str, object]],
) -> None:
    owner = await factory.user()
    project_id = await new_project(traced_client, owner)
    spans.clear()

    r = await traced_client.get(f"/api/v1/projects/{project_id}", headers=owner.headers)

    assert r.status_code == 200, r.text
    server = one(spans, PROJECT_ROUTE)
    assert server.kind == SpanKind.SERVER
    assert server.parent is None
    assert server.status.status_code == StatusCode.UNSET
    assert server.attributes is not None
    assert dict(server.attributes) == {
        "http.request.method": "GET",
        "url.path": f"/api/v1/projects/{project_id}",
        "url.scheme": "http",
        "v1tr0.request_id": r.headers["x-request-id"],
        "http.route": "/api/v1/projects/{project_id}",
        "http.response.status_code": 200,
    }
    statements = children(spans, server)
    assert "SELECT" in {span.name for span in statements}, [span.name for span in finished(spans)]
    for statement in statements:
        assert statement.kind == SpanKind.CLIENT
        assert trace_id(statement) == trace_id(server)
        assert statement.attributes is not None
        assert statement.attributes["db.system"] == "postgresql"
        text = str(statement.attributes["db.statement"])
        assert text.startswith("SELECT") and len(text) <= tracing.STATEMENT_LIMIT
        assert project_id not in text  # parameters are never recorded
    # Every span of the request is in its trace, and its log line names that trace.
    assert {trace_id(span) for span in finished(spans)} == {trace_id(server)}
    logged = [line for line in request_lines if line.get("route") == "/api/v1/projects/{project_id}"]
    assert [(line["trace_id"], line["span_id"]) for line in logged] == [(trace_id(server), span_id(server))]


async def test_an_incoming_traceparent_continues_the_callers_trace(
    traced_client: httpx.AsyncClient, spans: InMemorySpanExporter, factory: Factory
) -> None:
    owner = await factory.user()

    r = await traced_client.get(
        "/api/v1/projects",
        headers={**owner.headers, "traceparent": f"00-{CALLER_TRACE_ID}-{CALLER_SPAN_ID}-01"},
    )

    assert r.status_code == 200, r.text
    server = one(spans, "GET /api/v1/projects")
    assert trace_id(server) == CALLER_TRACE_ID
    assert server.parent is not None and format(server.parent.span_id, "016x") == CALLER_SPAN_ID
    assert server.parent.is_remote


async def test_a_malformed_traceparent_starts_a_new_trace(
    traced_client: httpx.AsyncClient, spans: InMemorySpanExporter, factory: Factory
) -> None:
    owner = await factory.user()

    r = await traced_client.get(
        "/api/v1/projects", headers={**owner.headers, "traceparent": "00-not-a-trace-01"}
    )

    assert r.status_code == 200, r.text
    server = one(spans, "GET /api/v1/projects")
    assert server.parent is None
    assert trace_id(server) != CALLER_TRACE_ID


async def test_client_errors_are_not_span_errors_and_server_errors_are(
    traced_client: httpx.AsyncClient, spans: InMemorySpanExporter, factory: Factory
) -> None:
    owner = await factory.user()
    missing = "00000000-0000-4000-8000-000000000000"

    assert (await traced_client.get(f"/api/v1/projects/{missing}", headers=owner.headers)).status_code == 404
    assert (await traced_client.get("/no/such/path")).status_code == 404
    assert (await traced_client.get("/test-only/boom")).status_code == 500
    assert (await traced_client.get("/test-only/bad-sql")).status_code == 500

    not_found = one(spans, PROJECT_ROUTE)
    assert not_found.attributes is not None
    assert not_found.attributes["http.response.status_code"] == 404
    assert not_found.status.status_code == StatusCode.UNSET
    unmatched = one(spans, "GET")  # no route: the method alone, no http.route
    assert unmatched.attributes is not None
    assert "http.route" not in unmatched.attributes
    assert unmatched.attributes["http.response.status_code"] == 404

    boom = one(spans, "GET /test-only/boom")
    assert boom.attributes is not None
    assert boom.attributes["http.response.status_code"] == 500
    assert boom.status.status_code == StatusCode.ERROR
    assert any(event.name == "exception" for event in boom.events)

    bad_sql = one(spans, "GET /test-only/bad-sql")
    assert bad_sql.status.status_code == StatusCode.ERROR
    failed = [span for span in children(spans, bad_sql) if span.status.status_code == StatusCode.ERROR]
    assert [span.name for span in failed] == ["SELECT"]
    assert any(event.name == "exception" for event in failed[0].events)


async def test_a_job_continues_the_trace_of_the_request_that_recorded_its_outbox_row(
    traced_client: httpx.AsyncClient,
    spans: InMemorySpanExporter,
    factory: Factory,
    traced_settings: Settings,
    traced_resources: Resources,
) -> None:
    owner = await factory.user()
    project_id = await new_project(traced_client, owner)
    spans.clear()
    await new_document(traced_client, owner, project_id, "Ana enviará la factura el viernes.")
    request = one(spans, "POST /api/v1/projects/{project_id}/documents")

    [document_row] = [
        row for row in await outbox_rows(traced_resources) if row.source_type == SourceType.DOCUMENT
    ]
    assert document_row.trace_context is not None
    version, stored_trace, stored_span, flags = document_row.trace_context.split("-")
    assert (version, stored_trace, stored_span) == ("00", trace_id(request), span_id(request))
    assert int(flags, 16) & 1  # sampled

    # One job at a time: concurrent jobs would share batched embedding calls (and their spans).
    await drain(traced_settings, traced_resources, max_jobs=1)

    assert get_tracer() is not None  # the worker's shutdown left the test's provider in place
    jobs = [
        span
        for span in named(spans, "ingest_outbox")
        if span.attributes is not None and span.attributes["v1tr0.outbox_id"] == document_row.id
    ]
    assert len(jobs) == 1
    job = jobs[0]
    assert job.kind == SpanKind.CONSUMER
    assert trace_id(job) == trace_id(request)
    assert job.parent is not None and format(job.parent.span_id, "016x") == span_id(request)
    assert job.attributes is not None
    assert job.attributes["messaging.system"] == "arq"
    assert job.attributes["v1tr0.job.outcome"] == "done"
    assert job.status.status_code == StatusCode.UNSET
    under_job = children(spans, job)
    assert "embeddings static/tokenlearn-64" in {span.name for span in under_job}
    assert {"SELECT", "INSERT"} <= {span.name for span in under_job}
    assert all(trace_id(span) == trace_id(request) for span in under_job)


async def test_the_openai_compatible_chat_model_is_a_span_with_its_token_usage(
    spans: InMemorySpanExporter,
) -> None:
    answer = streamed([delta_chunk("Paga "), delta_chunk("Ana."), usage_chunk(42, 5), DONE])
    settings = Settings(openai={"base_url": "http://llm.test/v1/", "api_key": "sk-test"})
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: answer))
    model = OpenAIChatModel(openai_client(settings, http=http), model="gpt-test")
    generation = Generation(messages=[{"role": "user", "content": "¿Quién paga?"}], question="¿Quién paga?")

    parts = [part async for part in model.stream(generation, Usage())]

    assert "".join(parts) == "Paga Ana."
    chat = one(spans, "chat gpt-test")
    assert chat.kind == SpanKind.CLIENT
    assert chat.attributes is not None
    assert chat.attributes["gen_ai.request.model"] == "gpt-test"
    assert (chat.attributes["gen_ai.usage.input_tokens"], chat.attributes["gen_ai.usage.output_tokens"]) == (
        42,
        5,
    )


async def test_a_zero_sample_ratio_keeps_no_trace_whatever_the_caller_asks(
    servers: Servers, resources: Resources, factory: Factory
) -> None:
    settings = make_settings(servers, tracing={"enabled": True, "sample_ratio": 0.0})
    exporter = InMemorySpanExporter()
    setup_tracing(settings, "api", exporter=exporter)
    try:
        app = create_app(settings, resources=resources)
        owner = await factory.user()
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            assert (await http.get("/api/v1/projects", headers=owner.headers)).status_code == 200
            sampled = await http.get(
                "/api/v1/projects",
                headers={**owner.headers, "traceparent": f"00-{CALLER_TRACE_ID}-{CALLER_SPAN_ID}-01"},
            )
            assert sampled.status_code == 200
    finally:
        shutdown_tracing(settings)

    # Not even the trace the caller marked sampled: an untrusted header cannot raise the ratio.
    assert finished(exporter) == []


async def test_the_api_lifespan_installs_and_removes_the_provider(
    traced_settings: Settings, resources: Resources
) -> None:
    app = create_app(traced_settings, resources=resources)
    assert get_tracer() is None

    async with app.router.lifespan_context(app):
        assert get_tracer() is not None

    assert get_tracer() is None


async def test_tracing_is_off_by_default(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, resources: Resources, factory: Factory
) -> None:
    assert Settings().tracing.enabled is False
    async with app.router.lifespan_context(app):
        assert get_tracer() is None
        owner = await factory.user()
        await new_project(client, owner)

    assert [row.trace_context for row in await outbox_rows(resources)] == [None]
    assert not sa.event.contains(
        resources.engine.sync_engine, "before_cursor_execute", tracing._statement_started
    )


def test_tracing_off_loads_no_sdk() -> None:
    """With tracing off, the app and the worker load the OpenTelemetry API only (its no-op tracer)."""
    code = (
        "import sys\n"
        "from api.app import create_app\n"
        "from ingestion.worker import build_worker\n"
        "from core.settings import Settings\n"
        "from core.tracing import setup_tracing\n"
        "setup_tracing(Settings(), 'api')\n"
        "create_app(Settings())\n"
        "sdk = ('opentelemetry.sdk', 'opentelemetry.exporter')\n"
        "print(sorted(name for name in sys.modules if name.startswith(sdk)))\n"
    )
    env = {name: value for name, value in os.environ.items() if not name.startswith("V1TR0_")}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]", result.stdout


async def test_a_transcription_job_continues_the_trace_of_the_upload(
    traced_client: httpx.AsyncClient,
    spans: InMemorySpanExporter,
    factory: Factory,
    traced_settings: Settings,
    traced_resources: Resources,
) -> None:
    owner = await factory.user()
    _, meeting_id = await make_meeting(traced_client, owner)
    spans.clear()
    transcript = vtt(("Ana", "Enviaré el presupuesto el viernes."))
    r = await upload(traced_client, owner, meeting_id, "call.vtt", transcript)
    assert r.status_code == 202, r.text
    request = one(spans, "POST /api/v1/transcriptions/upload/{meeting_id}")

    await drain(traced_settings, traced_resources, max_jobs=1)

    [job] = named(spans, "process_transcription")
    assert job.kind == SpanKind.CONSUMER
    assert trace_id(job) == trace_id(request)
    assert job.parent is not None and format(job.parent.span_id, "016x") == span_id(request)
    assert job.attributes is not None and job.attributes["v1tr0.job.outcome"] == "completed"
