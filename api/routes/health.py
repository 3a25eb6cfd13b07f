"""Liveness, readiness (database, Redis, worker heartbeat) and Prometheus metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel, Field

from api.deps import ResourcesDep
from core import keys
from core.events import recent_failures
from core.metrics import registry
from core.models import Outbox, OutboxStatus
from retrieval.lexical import active_lexical

router = APIRouter(tags=["health"])

CHECK_TIMEOUT = 2.0
FAILURE_WINDOW = 900  # seconds of job failures /health/ready reports


@router.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


async def _check_database(resources: ResourcesDep) -> None:
    async with resources.engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))


async def _check_redis(resources: ResourcesDep) -> None:
    await resources.redis.ping()


async def _search_check(resources: ResourcesDep, *, database_up: bool) -> dict[str, Any]:
    """Which full-text ranking searches use (decided once per process; docs/deploy.md says which
    PostgreSQL gets which)."""
    if not database_up:
        return {"status": "unknown"}
    try:
        lexical = await asyncio.wait_for(
            active_lexical(resources.engine, resources.settings.retrieval.lexical), CHECK_TIMEOUT
        )
    except Exception as exc:  # informative, like the worker's: the database itself was checked above
        return {"status": "unknown", "error": type(exc).__name__}
    return {"status": "up", "lexical": lexical}


async def _timed(name: str, check: Any) -> tuple[str, dict[str, Any]]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check, CHECK_TIMEOUT)
    except Exception as exc:  # a readiness probe reports every failure, whatever it is
        return name, {"status": "down", "error": type(exc).__name__}
    return name, {"status": "up", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


class DependencyCheck(BaseModel):
    status: Literal["up", "down", "unknown"]
    latency_ms: float | None = Field(None, description="how long the check took")
    last_seen: float | None = Field(None, description="the worker's last heartbeat, Unix time")
    recent_failures: int | None = Field(
        None, description="jobs the worker failed in the last FAILURE_WINDOW seconds (worker only)"
    )
    last_failure: dict[str, Any] | None = Field(
        None, description="the newest of them: job, error, when (ts), and its outbox or transcription id"
    )
    error: str | None = Field(None, description="the kind of failure (an exception class name)")
    lexical: Literal["bm25", "ts_rank"] | None = Field(
        None, description="search only: the full-text ranking in use (BM25 via pg_textsearch, or ts_rank)"
    )


class Readiness(BaseModel):
    status: Literal["ready"]
    checks: dict[str, DependencyCheck]

    model_config = {
        "json_schema_extra": {
            "examples": [
                {
                    "status": "ready",
                    "checks": {
                        "database": {"status": "up", "latency_ms": 1.2},
                        "redis": {"status": "up", "latency_ms": 0.4},
                        "worker": {"status": "up", "last_seen": 1767225600.0, "recent_failures": 0},
                        "search": {"status": "up", "lexical": "bm25"},
                    },
                }
            ]
        }
    }


class ApiError(BaseModel):
    code: str = Field(examples=["service_unavailable"])
    message: str
    details: Any = Field(None, examples=[{"down": ["redis"]}])


class NotReady(BaseModel):
    """The error shape, plus the checks (so that a probe's log shows which dependency is down)."""

    status: Literal["unavailable"]
    checks: dict[str, DependencyCheck]
    error: ApiError


@router.get(
    "/health/ready",
    response_model=Readiness,
    response_model_exclude_none=True,
    responses={503: {"model": NotReady, "description": "the database or Redis is down"}},
    summary="Ready when the database and Redis answer; reports the worker heartbeat",
)
async def ready(resources: ResourcesDep) -> Any:
    results = dict(
        await asyncio.gather(
            _timed("database", _check_database(resources)), _timed("redis", _check_redis(resources))
        )
    )
    worker: dict[str, Any] = {"status": "unknown"}
    if results["redis"]["status"] == "up":
        try:
            beat = await resources.redis.get(keys.WORKER_HEARTBEAT)
            worker = {"status": "up", "last_seen": float(beat)} if beat else {"status": "down"}
            failures = await recent_failures(resources.redis, since=time.time() - FAILURE_WINDOW)
            worker["recent_failures"] = len(failures)
            if failures:
                worker["last_failure"] = failures[0]
        except Exception as exc:  # the heartbeat is informative; Redis itself was checked above
            worker = {"status": "unknown", "error": type(exc).__name__}
    results["worker"] = worker
    results["search"] = await _search_check(resources, database_up=results["database"]["status"] == "up")
    down = [name for name in ("database", "redis") if results[name]["status"] != "up"]
    if not down:
        return {"status": "ready", "checks": results}
    return JSONResponse(
        {
            "status": "unavailable",
            "checks": results,
            "error": {
                "code": "service_unavailable",
                "message": f"not ready: {', '.join(down)} down",
                "details": {"down": down},
            },
        },
        status_code=503,
    )


UNFINISHED = (OutboxStatus.PENDING, OutboxStatus.PROCESSING)


class _Gauges(Collector):
    """Values read from Redis and the database at scrape time; a source that is down is left out."""

    def __init__(self, values: dict[str, tuple[str, float]]) -> None:
        self.values = values

    def collect(self) -> Any:
        for name, (help_text, value) in self.values.items():
            yield GaugeMetricFamily(name, help_text, value=value)


async def _queue_depth(resources: ResourcesDep) -> float:
    return float(await resources.redis.zcard(keys.ARQ_QUEUE))


async def _outbox_state(resources: ResourcesDep) -> tuple[float, float]:
    """(unfinished rows, age in seconds of the oldest one; 0 when none)."""
    query = sa.select(
        sa.func.count(),
        sa.func.coalesce(sa.func.extract("epoch", sa.func.now() - sa.func.min(Outbox.created_at)), 0),
    ).where(Outbox.status.in_(UNFINISHED))
    async with resources.engine.connect() as conn:
        pending, lag = (await conn.execute(query)).one()
    return float(pending), max(float(lag), 0.0)


async def _scrape_gauges(resources: ResourcesDep) -> dict[str, tuple[str, float]]:
    values: dict[str, tuple[str, float]] = {}
    depth, outbox = await asyncio.gather(
        asyncio.wait_for(_queue_depth(resources), CHECK_TIMEOUT),
        asyncio.wait_for(_outbox_state(resources), CHECK_TIMEOUT),
        return_exceptions=True,
    )
    if isinstance(depth, float):
        values["v1tr0_queue_depth"] = ("jobs waiting in the arq queue", depth)
    if isinstance(outbox, tuple):
        values["v1tr0_outbox_pending"] = ("outbox rows not yet applied to the index", outbox[0])
        values["v1tr0_outbox_lag_seconds"] = ("age of the oldest unapplied outbox row", outbox[1])
    return values


@router.get("/metrics", include_in_schema=False)
async def metrics(resources: ResourcesDep) -> Response:
    scraped = CollectorRegistry(auto_describe=False)
    scraped.register(_Gauges(await _scrape_gauges(resources)))
    body = generate_latest(registry()) + generate_latest(scraped)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
