"""Moves outbox rows into the arq queue. Runs in every worker; the API also nudges right after a commit.

Rows are enqueued only after the transaction that wrote them committed (so a rolled-back write enqueues
nothing), with a deterministic job id (so enqueueing twice is harmless). If Redis is down the rows stay
pending and go on a later sweep; a row enqueued but not finished within `requeue_after` (its worker died,
or Redis lost the queue) is enqueued again under its next dispatch number.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import Outbox, OutboxStatus

log = logging.getLogger("v1tr0.dispatcher")

INGEST_JOB = "ingest_outbox"


def job_id(outbox_id: int, dispatches: int) -> str:
    return f"outbox:{outbox_id}:{dispatches}"


async def enqueue(redis: ArqRedis, rows: Iterable[tuple[int, int]]) -> int:
    """Enqueue (outbox id, dispatch number) pairs; returns how many were new to the queue."""
    added = 0
    for outbox_id, dispatches in rows:
        job = await redis.enqueue_job(INGEST_JOB, outbox_id, _job_id=job_id(outbox_id, dispatches))
        added += job is not None
    return added


async def dispatch_pending(
    sessionmaker: async_sessionmaker[AsyncSession], redis: ArqRedis, *, requeue_after: float, limit: int = 500
) -> int:
    """One sweep of the outbox. Returns how many rows were handed to the queue."""
    now = datetime.now(UTC)
    stale = now - timedelta(seconds=requeue_after)
    async with sessionmaker() as session, session.begin():
        rows = (
            await session.execute(
                sa.select(Outbox.id, Outbox.dispatches, Outbox.enqueued_at)
                .where(
                    Outbox.status == OutboxStatus.PENDING,
                    Outbox.available_at <= now,
                    sa.or_(Outbox.enqueued_at.is_(None), Outbox.enqueued_at < stale),
                )
                .order_by(Outbox.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        ).all()
        if not rows:
            return 0
        batch = [(row.id, row.dispatches + (row.enqueued_at is not None)) for row in rows]
        await enqueue(redis, batch)
        await session.execute(
            sa.update(Outbox),
            [
                {"id": outbox_id, "dispatches": dispatches, "enqueued_at": now}
                for outbox_id, dispatches in batch
            ],
        )
    return len(rows)
