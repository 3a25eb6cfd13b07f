"""A project's view of the index: what is indexed, what waits, what failed (and retrying it)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from api.access import require_project
from core.models import (
    Chunk,
    EmbeddingModel,
    MemberRole,
    ModelStatus,
    Outbox,
    OutboxStatus,
    SourceType,
    User,
)
from ingestion.reindex import retry_failed

FAILURES_SHOWN = 50


async def index_status(session: AsyncSession, *, actor: User, project_id: uuid.UUID) -> dict[str, Any]:
    await require_project(session, actor, project_id)
    models = {m.status: m.name for m in (await session.scalars(sa.select(EmbeddingModel))).all()}
    serving = models.get(ModelStatus.SERVING)
    retrying = sa.and_(Outbox.status != OutboxStatus.FAILED, Outbox.attempts > 0)
    state = sa.case((Outbox.status == OutboxStatus.FAILED, "failed"), (retrying, "retrying"), else_="pending")
    rows = await session.execute(
        sa.select(state, sa.func.count(), sa.func.min(Outbox.created_at))
        .where(Outbox.project_id == project_id, Outbox.status != OutboxStatus.DONE)
        .group_by(state)
    )
    counts: dict[str, int] = {}
    oldest: list[datetime] = []
    for name, count, first in rows.tuples():
        counts[name] = count
        if name != "failed":
            oldest.append(first)
    failures = (
        await session.scalars(
            sa.select(Outbox)
            .where(Outbox.project_id == project_id, Outbox.status == OutboxStatus.FAILED)
            .order_by(Outbox.updated_at.desc())
            .limit(FAILURES_SHOWN)
        )
    ).all()
    retries = (
        await session.scalars(
            sa.select(Outbox)
            .where(Outbox.project_id == project_id, Outbox.status != OutboxStatus.DONE, retrying)
            .order_by(Outbox.updated_at.desc())
            .limit(FAILURES_SHOWN)
        )
    ).all()
    chunks = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Chunk)
        .where(Chunk.project_id == project_id, Chunk.embedding_model == serving)
    )
    last = await session.scalar(
        sa.select(sa.func.max(Outbox.processed_at)).where(
            Outbox.project_id == project_id, Outbox.status == OutboxStatus.DONE
        )
    )
    return {
        "project_id": project_id,
        "embedding_model": serving,
        "building_model": models.get(ModelStatus.BUILDING),
        "indexed_chunks": chunks or 0,
        "pending": counts.get("pending", 0),
        "retrying": counts.get("retrying", 0),
        "failed": counts.get("failed", 0),
        "oldest_pending_at": min(oldest, default=None),
        "retries": [
            {
                "outbox_id": row.id,
                "source_type": row.source_type,
                "source_id": row.source_id,
                "action": row.action,
                "attempts": row.attempts,
                "error": row.last_error,
                "next_attempt_at": row.available_at,
            }
            for row in retries
        ],
        "failures": [
            {
                "outbox_id": row.id,
                "source_type": row.source_type,
                "source_id": row.source_id,
                "action": row.action,
                "attempts": row.attempts,
                "error": row.last_error,
                "failed_at": row.updated_at,
            }
            for row in failures
        ],
        "last_indexed_at": last,
    }


async def retry_failed_changes(session: AsyncSession, *, actor: User, project_id: uuid.UUID) -> int:
    await require_project(session, actor, project_id, MemberRole.EDITOR)
    return await retry_failed(session, project_id=project_id)


async def document_index_states(
    session: AsyncSession, *, project_id: uuid.UUID, document_ids: list[uuid.UUID]
) -> dict[uuid.UUID, tuple[str, int]]:
    """Each document's place in the index: (state, chunks of the serving model). The state is its newest
    unfinished change's (`pending`, `retrying`, `failed`), else `indexed`. Two statements for a page of
    documents; both use the outbox's open-changes index and the chunks' source index."""
    if not document_ids:
        return {}
    serving = sa.select(EmbeddingModel.name).where(EmbeddingModel.status == ModelStatus.SERVING)
    counts = await session.execute(
        sa.select(Chunk.source_id, sa.func.count())
        .where(
            Chunk.project_id == project_id,
            Chunk.source_type == SourceType.DOCUMENT,
            Chunk.source_id.in_(document_ids),
            Chunk.embedding_model == serving.scalar_subquery(),
        )
        .group_by(Chunk.source_id)
    )
    chunks = dict(counts.tuples().all())
    state = sa.case(
        (Outbox.status == OutboxStatus.FAILED, "failed"), (Outbox.attempts > 0, "retrying"), else_="pending"
    )
    waiting = await session.execute(
        sa.select(Outbox.source_id, state)
        .where(
            Outbox.project_id == project_id,
            Outbox.status != OutboxStatus.DONE,
            Outbox.source_type == SourceType.DOCUMENT,
            Outbox.source_id.in_(document_ids),
        )
        .order_by(Outbox.source_id, Outbox.id.desc())
        .distinct(Outbox.source_id)
    )
    states = dict(waiting.tuples().all())
    return {i: (states.get(i, "indexed"), chunks.get(i, 0)) for i in document_ids}
