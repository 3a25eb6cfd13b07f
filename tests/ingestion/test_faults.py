"""Faults: the embedding provider down (retries, dead letter, retry) or answering garbage, Redis unreachable
while the API writes, Redis restarted between dispatch and processing. Nothing written is ever lost."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import redis.asyncio as aioredis
import sqlalchemy as sa

from api.app import create_app
from api.resources import Resources
from core.embedded import free_port
from core.models import Outbox, OutboxStatus, SourceType
from core.providers.embeddings import STATIC_MODEL
from ingestion.artifacts import load_artifact
from ingestion.dispatcher import dispatch_pending
from ingestion.reindex import reindex_command
from tests.conftest import make_settings
from tests.ingestion.helpers import (
    CountingEmbedder,
    FailingEmbedder,
    PrivateRedis,
    chunk_rows,
    drain,
    drain_until,
    outbox_rows,
)

DOCUMENT = "# Alcance\n\nTres secciones y un blog.\n\n# Plazos\n\nEntrega el viernes 12."


async def _project_with_document(client, actor) -> tuple[str, str]:
    r = await client.post("/api/v1/projects", json={"title": "Web Acme"}, headers=actor.headers)
    assert r.status_code == 201, r.text
    project_id = r.json()["id"]
    r = await client.post(
        f"/api/v1/projects/{project_id}/documents",
        json={"title": "Acta", "content": DOCUMENT},
        headers=actor.headers,
    )
    assert r.status_code == 201, r.text
    return project_id, r.json()["id"]


async def _statuses(resources) -> list[OutboxStatus]:
    return [row.status for row in await outbox_rows(resources)]


async def _dead_letter_everything(servers, resources, failing) -> None:
    """Let the worker fail against a provider that is down until every row is dead-lettered."""
    patient = make_settings(servers, ingestion={"retry_backoff": 60, "max_attempts": 3})
    await drain(patient, resources, embedders={STATIC_MODEL: failing})

    # First failure: the rows wait for their backoff, with the error recorded; a sweep leaves them alone.
    rows = await outbox_rows(resources)
    assert {row.status for row in rows} == {OutboxStatus.PENDING}
    assert {row.attempts for row in rows} == {1}
    assert {row.last_error for row in rows} == {f"ProviderUnavailable: {FailingEmbedder.error}"}
    assert all(row.available_at > datetime.now(UTC) + timedelta(seconds=30) for row in rows)
    assert await dispatch_pending(resources.sessionmaker, resources.redis, requeue_after=3600) == 0

    # Time passes (the backoff is due), and with a short backoff the remaining attempts run out.
    async with resources.sessionmaker() as session, session.begin():
        await session.execute(sa.update(Outbox).values(available_at=sa.func.now()))
    quick = make_settings(servers, ingestion={"retry_backoff": 0.01, "max_attempts": 3})

    async def all_failed() -> bool:
        return set(await _statuses(resources)) == {OutboxStatus.FAILED}

    await drain_until(quick, resources, all_failed, embedders={STATIC_MODEL: failing})
    rows = await outbox_rows(resources)
    assert {row.attempts for row in rows} == {3}
    assert failing.failures == 3 * len(rows)
    assert await chunk_rows(resources) == []


async def test_a_failing_provider_is_retried_then_dead_lettered_and_retried_from_the_api(
    servers, client, factory, settings, resources
):
    owner = await factory.user()
    project_id, document_id = await _project_with_document(client, owner)
    failing = FailingEmbedder()

    await _dead_letter_everything(servers, resources, failing)

    r = await client.get(f"/api/v1/projects/{project_id}/index-status", headers=owner.headers)
    assert r.status_code == 200
    status = r.json()
    assert status["failed"] == 2
    assert status["pending"] == 0
    assert status["indexed_chunks"] == 0
    assert {(f["source_type"], f["source_id"]) for f in status["failures"]} == {
        ("project", project_id),
        ("document", document_id),
    }
    assert {f["error"] for f in status["failures"]} == {f"ProviderUnavailable: {FailingEmbedder.error}"}
    assert {f["attempts"] for f in status["failures"]} == {3}

    r = await client.post(f"/api/v1/projects/{project_id}/index/retry", headers=owner.headers)
    assert r.status_code == 200
    assert r.json() == {"retried": 2}
    r = await client.get(f"/api/v1/projects/{project_id}/index-status", headers=owner.headers)
    assert (r.json()["pending"], r.json()["failed"]) == (2, 0)

    failing.healthy = True
    await drain(settings, resources, embedders={STATIC_MODEL: failing})

    assert set(await _statuses(resources)) == {OutboxStatus.DONE}
    r = await client.get(f"/api/v1/projects/{project_id}/index-status", headers=owner.headers)
    status = r.json()
    assert (status["pending"], status["failed"], status["failures"]) == (0, 0, [])
    assert status["indexed_chunks"] == 3
    assert status["embedding_model"] == STATIC_MODEL
    assert status["last_indexed_at"] is not None
    assert len(await chunk_rows(resources, source_id=uuid.UUID(document_id))) == 2


async def test_reindex_failed_puts_dead_letters_back(servers, client, factory, settings, resources, capsys):
    owner = await factory.user()
    _, document_id = await _project_with_document(client, owner)
    failing = FailingEmbedder()
    await _dead_letter_everything(servers, resources, failing)

    code = await reindex_command(settings, project_id=None, model=None, failed_only=True)

    assert code == 0
    assert "2 failed rows back to pending" in capsys.readouterr().out
    assert set(await _statuses(resources)) == {OutboxStatus.PENDING}
    failing.healthy = True
    await drain(settings, resources, embedders={STATIC_MODEL: failing})
    assert set(await _statuses(resources)) == {OutboxStatus.DONE}
    assert len(await chunk_rows(resources, source_id=uuid.UUID(document_id))) == 2


class NaNEmbedder(CountingEmbedder):
    """A provider gone wrong: NaN vectors, which the database refuses when the chunks are written."""

    async def embed_passages(self, texts: list[str]) -> list[list[float]]:
        return [[float("nan")] * self.dimensions for _ in texts]


async def test_a_database_error_is_recorded_without_its_sql_or_the_chunk_text(
    servers, client, factory, resources
):
    owner = await factory.user()
    project_id, _ = await _project_with_document(client, owner)
    once = make_settings(servers, ingestion={"max_attempts": 1})

    await drain(once, resources, embedders={STATIC_MODEL: NaNEmbedder()})

    rows = await outbox_rows(resources)
    assert {row.status for row in rows} == {OutboxStatus.FAILED}
    r = await client.get(f"/api/v1/projects/{project_id}/index-status", headers=owner.headers)
    errors = {failure["error"] for failure in r.json()["failures"]}
    assert len(errors) == 1
    [error] = errors
    assert error.startswith("DataError: ")
    assert "NaN" in error
    assert "\n" not in error
    assert "SQL" not in error
    assert "Tres secciones" not in error


async def test_writes_succeed_while_redis_is_unreachable_and_are_indexed_later(
    servers, factory, settings, resources, redis_client
):
    owner = await factory.user()
    unreachable = make_settings(servers, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    offline = Resources.open(unreachable)
    try:
        app = create_app(unreachable, resources=offline)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            project_id, document_id = await _project_with_document(client, owner)
            r = await client.get(f"/api/v1/projects/documents/{document_id}", headers=owner.headers)
            assert r.status_code == 200
    finally:
        await offline.close()

    rows = await outbox_rows(resources)
    assert [(row.status, row.enqueued_at) for row in rows] == [(OutboxStatus.PENDING, None)] * 2
    assert await redis_client.zcard("arq:queue") == 0

    # Redis is back (the real one): the worker's sweep enqueues the waiting rows and they are indexed.
    await drain(settings, resources)
    assert set(await _statuses(resources)) == {OutboxStatus.DONE}
    assert len(await chunk_rows(resources, source_id=uuid.UUID(document_id))) == 2
    assert len(await chunk_rows(resources, source_id=uuid.UUID(project_id))) == 1


async def test_a_redis_restart_between_dispatch_and_processing_loses_nothing(
    servers, factory, settings, resources, tmp_path
):
    owner = await factory.user()
    private = PrivateRedis(tmp_path / "redis").start()
    restartable = make_settings(servers, redis_url=private.url, ingestion={"requeue_after": 0.2})
    own = Resources.open(restartable)
    try:
        app = create_app(restartable, resources=own)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            project_id, first = await _project_with_document(client, owner)
            r = await client.post(
                f"/api/v1/projects/{project_id}/documents",
                json={"title": "Notas", "content": "Reunión con el cliente el lunes."},
                headers=owner.headers,
            )
            second = r.json()["id"]
        # Dispatched: the nudge after each commit and the worker's sweep put every row in the queue.
        assert await dispatch_pending(own.sessionmaker, own.redis, requeue_after=3600) == 3
        assert await own.redis.zcard("arq:queue") == 3

        private.restart()  # without persistence: the queue is gone

        fresh = aioredis.Redis.from_url(private.url)
        assert await fresh.zcard("arq:queue") == 0
        await fresh.aclose()
        assert set(await _statuses(resources)) == {OutboxStatus.PENDING}

        # The sweep sees rows enqueued but unfinished for longer than requeue_after and enqueues them again.
        async def all_done() -> bool:
            return set(await _statuses(resources)) == {OutboxStatus.DONE}

        await drain_until(restartable, own, all_done, requeue_after=restartable.ingestion.requeue_after)
    finally:
        await own.close()
        private.stop()

    async with resources.sessionmaker() as session:
        for source_type, source_id in ((SourceType.DOCUMENT, first), (SourceType.DOCUMENT, second)):
            artifact = await load_artifact(session, source_type, uuid.UUID(source_id), settings.ingestion)
            assert artifact is not None
            chunks = await chunk_rows(resources, source_id=uuid.UUID(source_id))
            assert [c.content for c in chunks] == [draft.content for draft in artifact.drafts]
    rows = await outbox_rows(resources)
    assert all(row.dispatches >= 1 for row in rows)  # each went to the queue again after the restart
