"""The arq worker: ingestion jobs, the outbox dispatcher loop and a heartbeat that /health/ready reads.

Layers above ingestion (meetings, evals) add their jobs, start-up and periodic sweeps as `WorkerPlugin`s,
which `v1tr0 worker` passes in (v1tr0/worker.py), so that ingestion never imports them."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from arq.connections import RedisSettings
from arq.worker import Function, Worker, func

from core import keys
from core.db import create_engine, create_sessionmaker
from core.document_files import sweep_orphan_documents
from core.logs import configure_logging
from core.metrics import serve_worker_metrics, time_job
from core.providers.embeddings import model_spec
from core.settings import Settings, get_settings
from core.tokens import ensure_offline_cache
from core.tracing import job_span, record_outcome, setup_tracing, shutdown_tracing
from core.uploads import sweep_orphan_uploads
from core.vectors import promote_built_models, register_model, serving_model
from ingestion.chunkers import warm_up
from ingestion.dispatcher import INGEST_JOB, dispatch_pending
from ingestion.jobs import Runtime, outbox_trace_context, process_outbox_row

log = logging.getLogger("v1tr0.worker")

HEARTBEAT_TTL = 30

Hook = Callable[[dict[str, Any]], Awaitable[None]]


@dataclass(frozen=True)
class WorkerPlugin:
    """Jobs of a layer above ingestion. `startup` runs after ingestion's (ctx then holds "runtime", the
    ingestion Runtime); `sweep` runs with every round of the outbox sweep (failures are logged)."""

    name: str
    functions: Sequence[Function] = ()
    startup: Hook | None = None
    sweep: Hook | None = None


async def ingest_outbox(ctx: dict[str, Any], outbox_id: int) -> str:
    runtime: Runtime = ctx["runtime"]
    traceparent = await outbox_trace_context(runtime, outbox_id)
    with (
        job_span(
            INGEST_JOB,
            job_id=ctx.get("job_id"),
            traceparent=traceparent,
            attributes={"v1tr0.outbox_id": outbox_id},
        ) as span,
        time_job(INGEST_JOB) as outcome,
    ):
        status = await process_outbox_row(runtime, outbox_id)
        outcome["outcome"] = status
        record_outcome(span, status)
    return status


UPLOAD_SWEEP_INTERVAL = 3600.0  # seconds between sweeps for recordings whose meeting is gone


async def _dispatch_loop(ctx: dict[str, Any]) -> None:
    runtime: Runtime = ctx["runtime"]
    plugins: Sequence[WorkerPlugin] = ctx.get("plugins", ())
    interval = runtime.settings.ingestion.dispatch_interval
    next_upload_sweep = 0.0  # the first sweep runs at start-up
    while True:
        try:
            await runtime.redis.set(keys.WORKER_HEARTBEAT, str(time.time()), ex=HEARTBEAT_TTL)
            await dispatch_pending(
                runtime.sessionmaker, runtime.redis, requeue_after=runtime.settings.ingestion.requeue_after
            )
            async with runtime.sessionmaker() as session, session.begin():
                await promote_built_models(session)
            for plugin in plugins:
                if plugin.sweep is not None:
                    await plugin.sweep(ctx)
            if time.monotonic() >= next_upload_sweep:
                next_upload_sweep = time.monotonic() + UPLOAD_SWEEP_INTERVAL  # a failing sweep waits too
                async with runtime.sessionmaker() as session:
                    await sweep_orphan_uploads(session, runtime.settings)
                    await sweep_orphan_documents(session, runtime.settings)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Database or Redis briefly away: the rows wait in the outbox and go on a later sweep.
            log.warning("outbox sweep failed; will retry", exc_info=True)
        await asyncio.sleep(interval)


async def startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    setup_tracing(settings, "worker")
    ensure_offline_cache()
    warm_up()
    engine = create_engine(settings, pool_size=max(settings.ingestion.max_jobs, 2) + 1)
    sessionmaker = create_sessionmaker(engine)
    spec = model_spec(settings)
    async with sessionmaker() as session, session.begin():
        current = await serving_model(session)
        if current is None:
            await register_model(session, name=spec.name, dimensions=spec.dimensions)
            log.info("embedding model registered", extra={"model": spec.name})
        elif current.name != spec.name:
            log.warning(
                "configured embedding model differs from the serving one; run `v1tr0 reindex --model %s`",
                spec.name,
                extra={"serving": current.name},
            )
    runtime = Runtime(settings=settings, sessionmaker=sessionmaker, redis=ctx["redis"])
    ctx["engine"] = engine
    ctx["runtime"] = runtime
    for plugin in ctx.get("plugins", ()):
        if plugin.startup is not None:
            await plugin.startup(ctx)
    ctx["dispatcher"] = asyncio.create_task(_dispatch_loop(ctx))


async def shutdown(ctx: dict[str, Any]) -> None:
    task: asyncio.Task[None] | None = ctx.get("dispatcher")
    if task is not None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    engine = ctx.get("engine")
    if engine is not None:
        await engine.dispose()
    shutdown_tracing(ctx["settings"])


def build_worker(settings: Settings, *, plugins: Sequence[WorkerPlugin] = (), **overrides: Any) -> Worker:
    """The worker: ingestion's job and loop, plus each plugin's jobs, start-up and sweep."""
    assert settings.redis_url, "REDIS_URL is not set"
    options: dict[str, Any] = {
        "functions": [
            func(ingest_outbox, name=INGEST_JOB, max_tries=1),
            *(function for plugin in plugins for function in plugin.functions),
        ],
        "redis_settings": RedisSettings.from_dsn(settings.redis_url),
        "on_startup": startup,
        "on_shutdown": shutdown,
        "ctx": {"settings": settings, "plugins": tuple(plugins)},
        "max_jobs": settings.ingestion.max_jobs,
        "job_timeout": 3600,
        "keep_result": 3600,
        "poll_delay": 0.1,
        "handle_signals": True,
    }
    options.update(overrides)
    return Worker(**options)


def run_worker(settings: Settings | None = None, *, plugins: Sequence[WorkerPlugin] = ()) -> int:
    settings = settings or get_settings()
    configure_logging(settings.log.level, json_format=settings.log.json_format)
    if settings.worker_metrics_port is not None:
        serve_worker_metrics(settings.worker_metrics_port)
        log.info("worker metrics", extra={"url": f"http://127.0.0.1:{settings.worker_metrics_port}/metrics"})
    worker = build_worker(settings, plugins=plugins)
    worker.run()
    return 0
