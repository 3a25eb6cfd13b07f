"""Liveness, readiness (database, Redis, worker heartbeat) and Prometheus metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.deps import ResourcesDep

router = APIRouter(tags=["health"])

WORKER_HEARTBEAT_KEY = "v1tr0:worker:heartbeat"
CHECK_TIMEOUT = 2.0


@router.get("/health/live")
async def live() -> dict[str, str]:
    return {"status": "ok"}


async def _check_database(resources: ResourcesDep) -> None:
    async with resources.engine.connect() as conn:
        await conn.execute(sa.text("SELECT 1"))


async def _check_redis(resources: ResourcesDep) -> None:
    await resources.redis.ping()


async def _timed(name: str, check: Any) -> tuple[str, dict[str, Any]]:
    started = time.perf_counter()
    try:
        await asyncio.wait_for(check, CHECK_TIMEOUT)
    except Exception as exc:  # a readiness probe reports every failure, whatever it is
        return name, {"status": "down", "error": type(exc).__name__}
    return name, {"status": "up", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


@router.get(
    "/health/ready",
    responses={503: {"description": "a dependency is down"}},
    summary="Ready when the database and Redis answer; reports the worker heartbeat",
)
async def ready(resources: ResourcesDep) -> JSONResponse:
    results = dict(
        await asyncio.gather(
            _timed("database", _check_database(resources)), _timed("redis", _check_redis(resources))
        )
    )
    worker: dict[str, Any] = {"status": "unknown"}
    if results["redis"]["status"] == "up":
        try:
            beat = await resources.redis.get(WORKER_HEARTBEAT_KEY)
            worker = {"status": "up", "last_seen": float(beat)} if beat else {"status": "down"}
        except Exception as exc:  # the heartbeat is informative; Redis itself was checked above
            worker = {"status": "unknown", "error": type(exc).__name__}
    results["worker"] = worker
    healthy = results["database"]["status"] == "up" and results["redis"]["status"] == "up"
    return JSONResponse(
        {"status": "ready" if healthy else "unavailable", "checks": results}, status_code=200 if healthy else 503
    )


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
