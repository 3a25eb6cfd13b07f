"""End to end: one meeting of the shipped dev set, created and measured through the public API on the app
and a real arq worker (v1tr0/stack.py), with the static test embedder; the run is stored."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
import pytest
import sqlalchemy as sa

from api.resources import Resources
from core.models import EvalItem, EvalRun, Project
from core.settings import Settings
from evals.meeting_cli import measure_dataset
from evals.meeting_dataset import DEFAULT_DATASET, load_meetings_dataset
from evals.meeting_eval import ApiClient, ApiError
from v1tr0.stack import _redis_db_url, _scratch_database_url, product_client


def test_scratch_storage_is_named_beside_the_configured_one() -> None:
    assert (
        _scratch_database_url("postgresql+psycopg://u@127.0.0.1:5432/v1tr0?sslmode=disable")
        == "postgresql+psycopg://u@127.0.0.1:5432/v1tr0_meetings_eval?sslmode=disable"
    )
    assert _redis_db_url("redis://127.0.0.1:6379/0", 14) == "redis://127.0.0.1:6379/14"
    assert _redis_db_url("redis://127.0.0.1:6379", 14) == "redis://127.0.0.1:6379/14"


async def test_one_meeting_measured_through_the_api(settings: Settings, resources: Resources) -> None:
    dataset = load_meetings_dataset(DEFAULT_DATASET).sliced(meetings=["fisio-1"], label="fisio-1")
    assert len(dataset.questions) >= 10 and dataset.queries and len(dataset.commitments) == 5

    @contextlib.asynccontextmanager
    async def local(_: Settings) -> AsyncIterator[httpx.AsyncClient]:
        async with product_client(settings, resources) as http:
            yield http

    run_id, measured, timings = await measure_dataset(
        settings, dataset, base_url=None, local_product=local, settle_within=120, keep=False, progress=False
    )
    metrics = measured.metrics
    assert metrics["questions"] == len(dataset.questions) and metrics["queries"] == len(dataset.queries)
    for name in ("key_facts", "abstention", "false_abstention", "citation_precision", "key_top10", "ndcg@10"):
        assert 0.0 <= metrics[name] <= 1.0, name
    assert metrics["key_facts"] > 0  # the extractive answers quote the transcript and the documents
    # Search results map back onto the judged segments (zero would mean the mapping is broken).
    assert metrics["key_top10"] > 0 and metrics["ndcg@10"] > 0
    assert metrics["leaks"] == 0
    assert metrics["commitments/gold"] == 5 and metrics["commitments/extracted"] >= 1
    assert metrics["segments_per_cited_chunk"] >= 1
    assert measured.provider == "extractive" and measured.embedding_model == "static/tokenlearn-64"
    assert timings["total_s"] >= timings["load_s"]

    async with resources.sessionmaker() as session:
        run = await session.get(EvalRun, run_id)
        assert run is not None and run.kind == "meetings" and run.status.value == "completed"
        assert run.metrics["key_facts"] == metrics["key_facts"]
        items = await session.scalar(sa.select(sa.func.count()).where(EvalItem.run_id == run_id))
        assert items == len(dataset.questions) + len(dataset.queries)
        # What the eval created is gone again (a server's own data is left as it was).
        assert await session.scalar(sa.select(sa.func.count()).select_from(Project)) == 0


async def test_the_client_waits_out_rate_limits_and_reports_other_failures() -> None:
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "0"}, json={"error": {"code": "rate_limited"}}),
            httpx.Response(200, json={"answer": "ok"}),
            httpx.Response(404, json={"error": {"code": "not_found", "message": "project not found"}}),
        ]
    )
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization", ""))
        return next(answers)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://x") as http:
        api = ApiClient(http, token="t0k")
        assert await api.call("GET", "/ai/ask/p", params={"q": "?"}) == {"answer": "ok"}
        with pytest.raises(ApiError, match=r"GET /api/v1/projects/p: 404 .*project not found"):
            await api.call("GET", "/projects/p")
    assert seen == ["Bearer t0k"] * 3 and api.requests == 3
