"""Writing an artifact's chunks: re-embed only what changed, replace the rows in the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Chunk, SourceType
from core.providers.embeddings import Embedder
from ingestion.chunkers import ChunkDraft


def _scope(source_id: uuid.UUID, source_types: Sequence[SourceType], model: str | None) -> list[Any]:
    clauses: list[Any] = [Chunk.source_id == source_id, Chunk.source_type.in_(list(source_types))]
    if model is not None:
        clauses.append(Chunk.embedding_model == model)
    return clauses


async def replace_chunks(
    session: AsyncSession,
    *,
    embedder: Embedder,
    project_id: uuid.UUID,
    source_id: uuid.UUID,
    source_types: Sequence[SourceType],
    drafts: Sequence[ChunkDraft],
) -> tuple[int, int]:
    """Make the artifact's chunks for `embedder` exactly `drafts`. Returns (chunks, newly embedded).

    Rows that are already right stay as they are (no write, no HNSW update); a text seen before (a
    paragraph that moved) reuses its stored vector; only new texts go to the model."""
    scope = _scope(source_id, source_types, embedder.name)
    stored = {
        (row.source_type, row.chunk_index): row
        for row in (
            await session.execute(
                sa.select(
                    Chunk.id,
                    Chunk.source_type,
                    Chunk.chunk_index,
                    Chunk.content_hash,
                    Chunk.meta,
                    Chunk.language,
                ).where(*scope)
            )
        ).all()
    }
    keep: set[int] = set()
    changed: list[ChunkDraft] = []
    for draft in drafts:
        row = stored.get((draft.source_type, draft.chunk_index))
        if row is not None and (row.content_hash, row.meta, row.language) == (
            draft.content_hash,
            draft.meta,
            draft.language,
        ):
            keep.add(row.id)
        else:
            changed.append(draft)
    wanted = {draft.content_hash for draft in changed}
    reusable = wanted & {row.content_hash for row in stored.values()}
    known: dict[str, Any] = {}
    if reusable:
        known = {
            row.content_hash: row.embedding
            for row in (
                await session.execute(
                    sa.select(Chunk.content_hash, Chunk.embedding).where(
                        *scope, Chunk.content_hash.in_(sorted(reusable))
                    )
                )
            ).all()
        }
    missing = {draft.content_hash: draft.content for draft in changed if draft.content_hash not in known}
    if missing:
        vectors = await embedder.embed_passages(list(missing.values()))
        for digest, vector in zip(missing, vectors, strict=True):
            if len(vector) != embedder.dimensions:
                raise ValueError(
                    f"{embedder.name} returned {len(vector)} dimensions, not {embedder.dimensions}"
                )
            known[digest] = vector
    stale = [row.id for row in stored.values() if row.id not in keep]
    if stale:
        await session.execute(sa.delete(Chunk).where(Chunk.id.in_(stale)))
    if changed:
        await session.execute(
            sa.insert(Chunk),
            [
                {
                    "project_id": project_id,
                    "source_type": draft.source_type,
                    "source_id": source_id,
                    "chunk_index": draft.chunk_index,
                    "content": draft.content,
                    "content_hash": draft.content_hash,
                    "token_count": draft.token_count,
                    "language": draft.language,
                    "meta": draft.meta,
                    "embedding": known[draft.content_hash],
                    "embedding_model": embedder.name,
                }
                for draft in changed
            ],
        )
    return len(drafts), len(missing)


async def delete_chunks(
    session: AsyncSession, *, source_id: uuid.UUID, source_types: Sequence[SourceType]
) -> int:
    """Remove an artifact's chunks for every model."""
    result = await session.execute(sa.delete(Chunk).where(*_scope(source_id, source_types, None)))
    return int(getattr(result, "rowcount", 0) or 0)


async def delete_meeting_chunks(session: AsyncSession, *, meeting_id: uuid.UUID) -> int:
    """A meeting's own chunks and those of its transcriptions (which carry the meeting id in metadata)."""
    result = await session.execute(
        sa.delete(Chunk).where(
            sa.or_(
                sa.and_(Chunk.source_type == SourceType.MEETING, Chunk.source_id == meeting_id),
                Chunk.meta["meeting_id"].astext == str(meeting_id),
            )
        )
    )
    return int(getattr(result, "rowcount", 0) or 0)
