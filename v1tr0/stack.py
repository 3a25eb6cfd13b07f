"""The whole product inside one process, for evals that measure it through its public API: the FastAPI app
on an httpx ASGI transport plus a real arq worker (outbox dispatcher included), on a scratch database and a
Redis database of their own, with AI rate limits lifted. Nothing of a developer's own data is touched, and
the serving embedding model is the configured one (a fresh database registers it)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import psycopg
from redis.asyncio import Redis

from core import keys
from core.db import libpq_url
from core.migrate import upgrade
from core.providers.embeddings import create_embedder, model_spec
from core.settings import Settings

log = logging.getLogger("v1tr0.stack")

SCRATCH_SUFFIX = "_meetings_eval"
REDIS_DB = 14  # the queue and caches of the in-process product, away from `make run`'s database 0
LOCK_TTL = 6 * 3600
UNLIMITED = 1_000_000
DRAIN_SECONDS = 30.0  # jobs in flight when the eval ends (project deletions) get this long to finish


class StackBusy(RuntimeError):
    """Another in-process product already uses the scratch Redis database."""


def _scratch_database_url(url: str) -> str:
    head, sep, query = url.partition("?")
    base, _, name = head.rpartition("/")
    return f"{base}/{name}{SCRATCH_SUFFIX}{sep}{query}"


def _redis_db_url(url: str, db: int) -> str:
    head, sep, query = url.partition("?")
    match = re.match(r"^(redis[s]?://[^/]+)(?:/\d*)?$", head)
    if not match:
        raise ValueError(f"cannot choose a database in Redis URL {head!r}")
    return f"{match.group(1)}/{db}{sep}{query}"


def _recreate(admin_url: str, name: str, *, drop_only: bool = False) -> None:
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not drop_only:
            conn.execute(f'CREATE DATABASE "{name}"')


@contextlib.asynccontextmanager
async def _scratch_redis(url: str) -> AsyncIterator[None]:
    redis = Redis.from_url(url)
    try:
        if not await redis.set(keys.LOCAL_PRODUCT_LOCK, str(os.getpid()), nx=True, ex=LOCK_TTL):
            owner = (await redis.get(keys.LOCAL_PRODUCT_LOCK) or b"?").decode()
            raise StackBusy(f"another in-process product (pid {owner}) uses Redis db {REDIS_DB}")
        # A crashed earlier run may have left jobs whose ids (outbox ids) the new database reuses.
        await redis.flushdb()
        await redis.set(keys.LOCAL_PRODUCT_LOCK, str(os.getpid()), ex=LOCK_TTL)
        yield
    finally:
        await redis.delete(keys.LOCAL_PRODUCT_LOCK)
        await redis.aclose()


def stack_settings(settings: Settings, *, database_url: str, redis_url: str) -> Settings:
    retrieval = settings.retrieval.model_copy(
        update={"ai_rate_limit": UNLIMITED, "ai_project_rate_limit": UNLIMITED}
    )
    # Per-request logs of thousands of eval requests would bury the eval's own output.
    quiet = settings.log.model_copy(update={"level": "WARNING"})
    return settings.model_copy(
        update={"database_url": database_url, "redis_url": redis_url, "retrieval": retrieval, "log": quiet}
    )


@contextlib.asynccontextmanager
async def local_product(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on the product, started here on scratch storage and stopped (storage dropped)
    when the block ends."""
    assert settings.database_url and settings.redis_url, "start the services first (with_services)"
    database_url = _scratch_database_url(settings.database_url)
    name = database_url.partition("?")[0].rpartition("/")[2]
    redis_url = _redis_db_url(settings.redis_url, REDIS_DB)
    async with _scratch_redis(redis_url):
        await asyncio.to_thread(_recreate, settings.database_url, name)
        try:
            await asyncio.to_thread(upgrade, database_url)
            async with product_client(
                stack_settings(settings, database_url=database_url, redis_url=redis_url)
            ) as http:
                yield http
        finally:
            await asyncio.to_thread(_recreate, settings.database_url, name, drop_only=True)


@contextlib.asynccontextmanager
async def product_client(settings: Settings, resources: Any = None) -> AsyncIterator[httpx.AsyncClient]:
    """The API app (on `resources`, or resources of its own) and a running arq worker, both on `settings`'
    database and Redis, sharing one embedding model (loading e5 twice would double a minutes-long start)."""
    from api.app import create_app
    from api.resources import Resources
    from ingestion.batching import BatchingEmbedder
    from ingestion.worker import build_worker, startup
    from v1tr0.worker import worker_plugins

    owned = resources is None
    resources = resources or Resources.open(settings)
    name = model_spec(settings).name
    embedder = resources.embedders.get(name) or create_embedder(settings)
    resources.embedders[name] = embedder

    async def startup_sharing_the_model(ctx: dict[str, Any]) -> None:
        await startup(ctx)
        ctx["runtime"].embedders[name] = BatchingEmbedder(embedder, max_batch=settings.embedding.batch_size)

    worker = build_worker(
        settings, plugins=worker_plugins(), handle_signals=False, on_startup=startup_sharing_the_model
    )
    running = asyncio.create_task(worker.main())
    running.add_done_callback(_report_worker_exit)
    app = create_app(settings, resources=resources)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://v1tr0.local", timeout=600
        ) as http:
            yield http
    finally:
        await _stop(worker, running)
        if owned:
            await resources.close()


async def _stop(worker: Any, running: asyncio.Task[None]) -> None:
    """Stop taking jobs, let the ones in flight finish (a bounded wait), then close the worker. arq's
    close() cancels what still runs and re-raises the cancellation: by then that only abandons a job."""
    running.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await running
    in_flight = [task for task in worker.tasks.values() if not task.done()]
    if in_flight:
        await asyncio.wait(in_flight, timeout=DRAIN_SECONDS)
    with contextlib.suppress(asyncio.CancelledError):
        await worker.close()


def _report_worker_exit(task: asyncio.Task[None]) -> None:
    """A worker that dies leaves the eval waiting for jobs nobody runs: say why at once."""
    if not task.cancelled() and task.exception() is not None:
        log.error("the in-process worker stopped", exc_info=task.exception())
