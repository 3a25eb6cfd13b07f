"""Which embedding model serves searches, and the per-model HNSW indexes on the shared chunks table."""

from __future__ import annotations

import re

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Chunk, EmbeddingModel, ModelStatus, Outbox, OutboxStatus

# Serialises model registration and switches (two workers finishing a rebuild at once, a reindex meanwhile).
MODEL_SWITCH_LOCK = 0x7631_6D6F


def hnsw_index_name(model: str) -> str:
    return "ix_chunks_hnsw_" + re.sub(r"[^a-z0-9]", "_", model.lower())[:40]


def embedding_cast(dimensions: int) -> str:
    """The expression every vector query and the model's index share (so the planner uses the index)."""
    return f"(embedding::vector({int(dimensions)}))"


async def ensure_model_index(session: AsyncSession, *, name: str, dimensions: int) -> None:
    if not re.fullmatch(r"[A-Za-z0-9_./@:-]{1,128}", name):
        raise ValueError(f"invalid model name {name!r}")
    await session.execute(
        sa.text(
            f"CREATE INDEX IF NOT EXISTS {hnsw_index_name(name)} ON chunks USING hnsw "
            f"({embedding_cast(dimensions)} vector_cosine_ops) WHERE embedding_model = '{name}'"
        )
    )


async def serving_model(session: AsyncSession) -> EmbeddingModel | None:
    model: EmbeddingModel | None = await session.scalar(
        sa.select(EmbeddingModel).where(EmbeddingModel.status == ModelStatus.SERVING)
    )
    return model


async def active_models(session: AsyncSession) -> list[EmbeddingModel]:
    """Models that new chunks are written for: the serving one and any being built."""
    rows = await session.scalars(
        sa.select(EmbeddingModel)
        .where(EmbeddingModel.status.in_([ModelStatus.SERVING, ModelStatus.BUILDING]))
        .order_by(EmbeddingModel.name)
    )
    return list(rows.all())


async def register_model(session: AsyncSession, *, name: str, dimensions: int) -> EmbeddingModel:
    """Make sure `name` is known; it serves at once when nothing serves yet, else it starts as building."""
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(MODEL_SWITCH_LOCK)))
    model = await session.get(EmbeddingModel, name)
    current = await serving_model(session)
    if model is None:
        status = ModelStatus.SERVING if current is None else ModelStatus.BUILDING
        model = EmbeddingModel(name=name, dimensions=dimensions, status=status)
        session.add(model)
    elif model.status == ModelStatus.RETIRED:
        model.status = ModelStatus.SERVING if current is None else ModelStatus.BUILDING
    await ensure_model_index(session, name=name, dimensions=dimensions)
    await session.flush()
    return model


async def promote_if_built(session: AsyncSession, name: str) -> bool:
    """When nothing of a building model's rebuild is left to do, it serves: the serving model retires and
    its chunks go. Until then searches keep using the serving model and all of its chunks."""
    await session.execute(sa.select(sa.func.pg_advisory_xact_lock(MODEL_SWITCH_LOCK)))
    model = await session.get(EmbeddingModel, name, populate_existing=True)
    if model is None or model.status != ModelStatus.BUILDING:
        return False
    unfinished = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Outbox)
        .where(Outbox.embedding_model == name, Outbox.status != OutboxStatus.DONE)
    )
    if unfinished:
        return False
    retired = (
        await session.scalars(
            sa.update(EmbeddingModel)
            .where(EmbeddingModel.status == ModelStatus.SERVING)
            .values(status=ModelStatus.RETIRED)
            .returning(EmbeddingModel.name)
        )
    ).all()
    model.status = ModelStatus.SERVING
    # Only the retired model's chunks: another model may be building beside this one.
    await session.execute(sa.delete(Chunk).where(Chunk.embedding_model.in_(list(retired))))
    await session.flush()
    return True


async def promote_built_models(session: AsyncSession) -> list[str]:
    """`promote_if_built` for every building model (a switch whose last step failed, or a rebuild of
    nothing); returns the models that now serve."""
    building = (
        await session.scalars(
            sa.select(EmbeddingModel.name).where(EmbeddingModel.status == ModelStatus.BUILDING)
        )
    ).all()
    return [name for name in building if await promote_if_built(session, name)]
