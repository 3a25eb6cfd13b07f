"""Liveness, readiness (database, Redis, worker heartbeat) and Prometheus metrics."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

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


class DependencyCheck(BaseModel):
    status: Literal["up", "down", "unknown"]
    latency_ms: float | None = Field(None, description="how long the check took")
    last_seen: float | None = Field(None, description="the worker's last heartbeat, Unix time")
    error: str | None = Field(None, description="the kind of failure (an exception class name)")


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
                        "worker": {"status": "up", "last_seen": 1767225600.0},
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
            beat = await resources.redis.get(WORKER_HEARTBEAT_KEY)
            worker = {"status": "up", "last_seen": float(beat)} if beat else {"status": "down"}
        except Exception as exc:  # the heartbeat is informative; Redis itself was checked above
            worker = {"status": "unknown", "error": type(exc).__name__}
    results["worker"] = worker
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


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
