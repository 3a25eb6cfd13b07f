"""Running a real arq worker in-process (burst mode) against the test Redis and database."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from arq.connections import ArqRedis

from api.resources import Resources
from core.models import Chunk, Outbox, OutboxStatus
from core.settings import Settings
from ingestion.dispatcher import dispatch_pending
from ingestion.worker import build_worker


async def drain(settings: Settings, resources: Resources, **overrides: Any) -> dict[str, Any]:
    """Sweep the outbox and run a burst worker until the queue is empty; return the worker's ctx."""
    await dispatch_pending(resources.sessionmaker, resources.redis, requeue_after=3600)
    worker = build_worker(settings, burst=True, handle_signals=False, **overrides)
    try:
        await worker.main()
    finally:
        await worker.close()
    return worker.ctx


async def chunk_rows(resources: Resources, **where: Any) -> list[Chunk]:
    async with resources.sessionmaker() as session:
        query = sa.select(Chunk).order_by(Chunk.source_type, Chunk.chunk_index)
        for key, value in where.items():
            query = query.where(getattr(Chunk, key) == value)
        return list((await session.scalars(query)).all())


async def outbox_rows(resources: Resources) -> list[Outbox]:
    async with resources.sessionmaker() as session:
        return list((await session.scalars(sa.select(Outbox).order_by(Outbox.id))).all())


async def pending_count(resources: Resources) -> int:
    async with resources.sessionmaker() as session:
        return int(
            await session.scalar(
                sa.select(sa.func.count()).select_from(Outbox).where(Outbox.status != OutboxStatus.DONE)
            )
            or 0
        )


__all__ = ["ArqRedis", "chunk_rows", "drain", "outbox_rows", "pending_count"]
