"""Switching the embedding model: the new one is built beside the serving one, which keeps answering with
all its chunks until every artifact has chunks of the new model; then the new one serves alone."""

from __future__ import annotations

import uuid

import httpx
import pytest
import sqlalchemy as sa

from core.models import Chunk, EmbeddingModel, ModelStatus, Outbox, OutboxStatus
from core.providers.embeddings import STATIC_MODEL, OpenAIEmbedder
from core.providers.openai_client import openai_client
from core.settings import Settings
from core.vectors import hnsw_index_name
from ingestion.jobs import Runtime, process_outbox_row
from ingestion.reindex import reindex
from tests.ingestion.helpers import all_artifacts, chunk_rows, drain, new_document, openai_mock, outbox_rows

NEW_MODEL = "openai/text-embedding-3-small@32"


def mock_embedder(calls: list) -> OpenAIEmbedder:
    settings = Settings(openai={"base_url": "http://embeddings.test/v1", "api_key": "sk-test"})
    http = httpx.AsyncClient(transport=openai_mock(calls, dimensions=32))
    return OpenAIEmbedder(openai_client(settings, http=http), model="text-embedding-3-small", dimensions=32)


async def _models(resources) -> dict[str, ModelStatus]:
    async with resources.sessionmaker() as session:
        return {m.name: m.status for m in (await session.scalars(sa.select(EmbeddingModel))).all()}


def _sources(chunks: list[Chunk]) -> set[tuple[str, uuid.UUID, int, str]]:
    return {(c.source_type.value, c.source_id, c.chunk_index, c.content) for c in chunks}


async def test_switching_the_model_keeps_the_old_one_serving_until_the_new_one_is_complete(
    client, factory, settings, resources
):
    owner = await factory.user()
    ids = await all_artifacts(client, resources, owner)
    await drain(settings, resources)
    static_chunks = await chunk_rows(resources, embedding_model=STATIC_MODEL)
    assert len(static_chunks) > 5

    async with resources.sessionmaker() as session, session.begin():
        queued, what = await reindex(session, settings, project_id=None, model=NEW_MODEL)
    assert queued == 5  # project, document, meeting, transcription, chat turn
    assert what.startswith(f"building {NEW_MODEL}")
    assert await _models(resources) == {STATIC_MODEL: ModelStatus.SERVING, NEW_MODEL: ModelStatus.BUILDING}
    async with resources.sessionmaker() as session:
        indexes = (
            await session.scalars(sa.text("SELECT indexname FROM pg_indexes WHERE tablename='chunks'"))
        ).all()
    assert hnsw_index_name(NEW_MODEL) in indexes

    # Part of the rebuild done: searches still use the static model, all of whose chunks are there.
    calls: list = []
    embedder = mock_embedder(calls)
    runtime = Runtime(settings=settings, sessionmaker=resources.sessionmaker, redis=resources.redis)
    runtime.embedders[NEW_MODEL] = embedder
    first_rebuild = next(row for row in await outbox_rows(resources) if row.embedding_model == NEW_MODEL)
    assert await process_outbox_row(runtime, first_rebuild.id) == "done"
    assert len(await chunk_rows(resources, embedding_model=NEW_MODEL)) > 0
    assert await _models(resources) == {STATIC_MODEL: ModelStatus.SERVING, NEW_MODEL: ModelStatus.BUILDING}
    assert _sources(await chunk_rows(resources, embedding_model=STATIC_MODEL)) == _sources(static_chunks)
    r = await client.get(f"/api/v1/projects/{ids['project']}/index-status", headers=owner.headers)
    status = r.json()
    assert (status["embedding_model"], status["building_model"]) == (STATIC_MODEL, NEW_MODEL)
    assert status["indexed_chunks"] == len(static_chunks)
    assert status["pending"] == 4

    # A document written during the build is indexed for both models.
    late = await new_document(
        client, owner, ids["project"], "Escrito durante la reconstrucción.", title="Tarde"
    )

    await drain(settings, resources, embedders={NEW_MODEL: embedder})

    assert await _models(resources) == {STATIC_MODEL: ModelStatus.RETIRED, NEW_MODEL: ModelStatus.SERVING}
    assert await chunk_rows(resources, embedding_model=STATIC_MODEL) == []
    new_chunks = await chunk_rows(resources)
    assert {c.embedding_model for c in new_chunks} == {NEW_MODEL}
    assert all(len(c.embedding) == 32 for c in new_chunks)
    late_chunks = {s for s in _sources(new_chunks) if s[1] == uuid.UUID(late)}
    assert len(late_chunks) == 1
    assert _sources(new_chunks) - late_chunks == _sources(static_chunks)  # every artifact, rebuilt
    assert all(row.status == OutboxStatus.DONE for row in await outbox_rows(resources))
    assert sum(len(call["input"]) for call in calls) >= len(new_chunks)
    assert {call["dimensions"] for call in calls} == {32}
    r = await client.get(f"/api/v1/projects/{ids['project']}/index-status", headers=owner.headers)
    status = r.json()
    assert (status["embedding_model"], status["building_model"]) == (NEW_MODEL, None)
    assert status["indexed_chunks"] == len(new_chunks)


async def test_switching_models_with_nothing_indexed_serves_the_new_model_at_once(settings, resources):
    await drain(settings, resources)  # the worker registers the configured (static) model
    assert await _models(resources) == {STATIC_MODEL: ModelStatus.SERVING}

    async with resources.sessionmaker() as session, session.begin():
        queued, _ = await reindex(session, settings, project_id=None, model=NEW_MODEL)
    await drain(settings, resources, embedders={NEW_MODEL: mock_embedder([])})

    assert queued == 0
    assert await _models(resources) == {STATIC_MODEL: ModelStatus.RETIRED, NEW_MODEL: ModelStatus.SERVING}


async def test_a_switch_cannot_be_limited_to_one_project(client, factory, settings, resources):
    owner = await factory.user()
    ids = await all_artifacts(client, resources, owner)
    await drain(settings, resources)

    async with resources.sessionmaker() as session:
        with pytest.raises(ValueError, match="every project"):
            await reindex(session, settings, project_id=uuid.UUID(ids["project"]), model=NEW_MODEL)
        await session.rollback()

    # Rebuilding one project with the serving model is fine, and leaves the same chunks.
    before = _sources(await chunk_rows(resources))
    async with resources.sessionmaker() as session, session.begin():
        queued, _ = await reindex(session, settings, project_id=uuid.UUID(ids["project"]), model="static")
    assert queued == 5
    await drain(settings, resources)
    assert _sources(await chunk_rows(resources)) == before
    assert await _models(resources) == {STATIC_MODEL: ModelStatus.SERVING}
    assert all(row.status == OutboxStatus.DONE for row in await outbox_rows(resources))
    async with resources.sessionmaker() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Outbox)) == 10
