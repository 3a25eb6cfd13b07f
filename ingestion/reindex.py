"""Rebuilding the index: every artifact again (optionally for a new embedding model), or failed rows only."""

from __future__ import annotations

import sys
import uuid
from typing import Any

import sqlalchemy as sa
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import create_engine, create_sessionmaker
from core.models import (
    ChatMessage,
    ChatStatus,
    Document,
    Meeting,
    ModelStatus,
    Outbox,
    OutboxAction,
    OutboxStatus,
    Project,
    SourceType,
    Transcription,
)
from core.providers.embeddings import model_spec_for
from core.settings import Settings
from core.vectors import promote_if_built, register_model
from ingestion.dispatcher import dispatch_pending


async def retry_failed(session: AsyncSession, *, project_id: uuid.UUID | None = None) -> int:
    """Dead-lettered rows go back to pending with a fresh attempt budget."""
    query = (
        sa.update(Outbox)
        .where(Outbox.status == OutboxStatus.FAILED)
        .values(
            status=OutboxStatus.PENDING,
            attempts=0,
            available_at=sa.func.now(),
            enqueued_at=None,
            dispatches=Outbox.dispatches + 1,
        )
    )
    if project_id:
        query = query.where(Outbox.project_id == project_id)
    result = await session.execute(query)
    return int(getattr(result, "rowcount", 0) or 0)


def _artifact_selects(project_id: uuid.UUID | None) -> list[sa.Select[Any]]:
    """(project id, source type, source id) of every artifact, optionally of one project."""

    def scoped(select: sa.Select[Any], column: Any) -> sa.Select[Any]:
        return select.where(column == project_id) if project_id else select

    return [
        scoped(sa.select(Project.id, sa.literal(SourceType.PROJECT.value), Project.id), Project.id),
        scoped(
            sa.select(Document.project_id, sa.literal(SourceType.DOCUMENT.value), Document.id),
            Document.project_id,
        ),
        scoped(
            sa.select(Meeting.project_id, sa.literal(SourceType.MEETING.value), Meeting.id),
            Meeting.project_id,
        ),
        scoped(
            sa.select(Meeting.project_id, sa.literal(SourceType.TRANSCRIPT.value), Transcription.id).join(
                Meeting, Meeting.id == Transcription.meeting_id
            ),
            Meeting.project_id,
        ),
        scoped(
            sa.select(ChatMessage.project_id, sa.literal(SourceType.CHAT.value), ChatMessage.id).where(
                ChatMessage.processing_status == ChatStatus.COMPLETED
            ),
            ChatMessage.project_id,
        ),
    ]


async def enqueue_rebuild(
    session: AsyncSession, *, project_id: uuid.UUID | None = None, model: str | None = None
) -> int:
    """One upsert outbox row per artifact (for `model` only, or for every active model when None)."""
    total = 0
    for select in _artifact_selects(project_id):
        rows = select.add_columns(
            sa.literal(OutboxAction.UPSERT.value), sa.literal(model, type_=sa.String(128))
        )
        # Counted from RETURNING: an ORM-enabled INSERT ... SELECT reports no rowcount (-1).
        inserted = await session.scalars(
            sa.insert(Outbox)
            .from_select(["project_id", "source_type", "source_id", "action", "embedding_model"], rows)
            .returning(Outbox.id)
        )
        total += len(inserted.all())
    return total


async def reindex(
    session: AsyncSession, settings: Settings, *, project_id: uuid.UUID | None, model: str | None
) -> tuple[int, str]:
    """Queue a rebuild; returns (rows queued, what happens)."""
    if model is None:
        return await enqueue_rebuild(session, project_id=project_id), "rebuilding with the active model(s)"
    spec = model_spec_for(settings, model)
    registered = await register_model(session, name=spec.name, dimensions=spec.dimensions)
    if registered.status == ModelStatus.SERVING:
        count = await enqueue_rebuild(session, project_id=project_id, model=spec.name)
        return count, f"rebuilding {spec.name} (already serving)"
    if project_id is not None:
        raise ValueError("switching the embedding model rebuilds every project; leave out --project")
    count = await enqueue_rebuild(session, model=spec.name)
    if await promote_if_built(session, spec.name):  # nothing to rebuild
        return count, f"{spec.name} serves now (there was nothing to index)"
    return count, f"building {spec.name}; it serves once all {count} artifacts are indexed"


async def reindex_command(
    settings: Settings, *, project_id: str | None, model: str | None, failed_only: bool
) -> int:
    engine = create_engine(settings, pool_size=2)
    sessionmaker = create_sessionmaker(engine)
    project = uuid.UUID(project_id) if project_id else None
    try:
        async with sessionmaker() as session, session.begin():
            if failed_only:
                count, what = await retry_failed(session, project_id=project), "failed rows back to pending"
            else:
                count, what = await reindex(session, settings, project_id=project, model=model)
        assert settings.redis_url
        redis = ArqRedis.from_url(settings.redis_url)
        try:
            await dispatch_pending(sessionmaker, redis, requeue_after=settings.ingestion.requeue_after)
        except Exception as exc:  # the worker's own sweep will enqueue them
            print(
                f"queued in the outbox; the worker will pick them up ({type(exc).__name__})", file=sys.stderr
            )
        finally:
            await redis.aclose()
    except ValueError as exc:
        print(f"v1tr0 reindex: {exc}", file=sys.stderr)
        return 2
    finally:
        await engine.dispose()
    print(f"{count} {what}")
    return 0
