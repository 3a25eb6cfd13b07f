"""The database backend dies in the middle of writing chunks (pg_terminate_backend from a trigger on the
chunk insert, the way a crashed backend looks to the worker). The change is retried and indexed, or
dead-lettered with the error after its last attempt; the document itself is never lost; and while it
fails, index-status, /health/ready and the answers say so."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from api.resources import Resources
from core.models import OutboxStatus, SourceType
from tests.conftest import make_settings
from tests.ingestion.helpers import chunk_rows, drain, drain_until, new_document, new_project, outbox_rows

KILL_SEQUENCE = "test_kill_chunk_insert"


def _kill_function(budget: int) -> str:
    """A trigger function that kills its own backend on the first `budget` document chunk inserts
    (counted by a sequence, because the dying transaction rolls back anything else it changed)."""
    return f"""CREATE OR REPLACE FUNCTION test_kill_backend() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.source_type = 'document' AND nextval('{KILL_SEQUENCE}') <= {int(budget)} THEN
                PERFORM pg_terminate_backend(pg_backend_pid());
                PERFORM pg_sleep(5);
            END IF;
            RETURN NEW;
        END $$"""


@pytest.fixture
async def kill_chunk_inserts(resources: Resources) -> AsyncIterator[Resources]:
    async with resources.engine.begin() as conn:
        await conn.execute(sa.text(f"CREATE SEQUENCE {KILL_SEQUENCE}"))
        await conn.execute(sa.text(_kill_function(0)))
        await conn.execute(
            sa.text(
                "CREATE TRIGGER test_kill_backend BEFORE INSERT ON chunks FOR EACH ROW "
                "EXECUTE FUNCTION test_kill_backend()"
            )
        )
    try:
        yield resources
    finally:
        async with resources.engine.begin() as conn:
            await conn.execute(sa.text("DROP TRIGGER IF EXISTS test_kill_backend ON chunks"))
            await conn.execute(sa.text("DROP FUNCTION IF EXISTS test_kill_backend()"))
            await conn.execute(sa.text(f"DROP SEQUENCE IF EXISTS {KILL_SEQUENCE}"))


async def _set_kill_budget(resources: Resources, kills: int) -> None:
    """From now on, the next `kills` chunk inserts die."""
    async with resources.engine.begin() as conn:
        await conn.execute(sa.text(f"ALTER SEQUENCE {KILL_SEQUENCE} RESTART"))
        await conn.execute(sa.text(_kill_function(kills)))


async def _document_status(resources: Resources, document_id: str) -> tuple[OutboxStatus, int, str | None]:
    rows = [
        row
        for row in await outbox_rows(resources)
        if row.source_type == SourceType.DOCUMENT and str(row.source_id) == document_id
    ]
    assert len(rows) == 1
    return rows[0].status, rows[0].attempts, rows[0].last_error


async def test_a_killed_backend_is_retried_and_then_indexed(
    servers, client, factory, resources, kill_chunk_inserts
):
    owner = await factory.user()
    project_id = await new_project(client, owner)
    document_id = await new_document(
        client, owner, project_id, "# Plazos\n\nAna envía el presupuesto el viernes."
    )
    await _set_kill_budget(resources, 2)
    settings = make_settings(servers, ingestion={"retry_backoff": 0.01, "max_attempts": 5})

    await drain(settings, resources)
    status, attempts, error = await _document_status(resources, document_id)
    assert status == OutboxStatus.PENDING and attempts >= 1
    assert error is not None and "terminat" in error.lower()

    # Meanwhile the user sees a retry, not a plain "pending", and answers say the index is incomplete.
    r = await client.get(f"/api/v1/projects/{project_id}/index-status", headers=owner.headers)
    index = r.json()
    assert index["retrying"] >= 1
    retry = next(item for item in index["retries"] if item["source_id"] == document_id)
    assert retry["attempts"] == attempts and retry["error"] == error
    r = await client.get(
        f"/api/v1/ai/ask/{project_id}", params={"q": "¿Quién envía el presupuesto?"}, headers=owner.headers
    )
    assert r.json()["index_pending"] >= 1
    assert "aún no" in r.json()["answer"] and "índice" in r.json()["answer"]
    r = await client.get(
        f"/api/v1/ai/search/{project_id}", params={"q": "presupuesto"}, headers=owner.headers
    )
    assert r.json()["index_pending"] >= 1
    ready = (await client.get("/health/ready")).json()
    assert ready["checks"]["worker"]["recent_failures"] >= 1
    assert "terminat" in ready["checks"]["worker"]["last_failure"]["error"].lower()

    async def indexed() -> bool:
        return (await _document_status(resources, document_id))[0] == OutboxStatus.DONE

    await drain_until(settings, resources, indexed)
    status, attempts, error = await _document_status(resources, document_id)
    assert (status, error) == (OutboxStatus.DONE, None)
    assert attempts == 3  # two killed, the third wrote
    assert len(await chunk_rows(resources, source_id=uuid.UUID(document_id))) >= 1
    r = await client.get(
        f"/api/v1/ai/ask/{project_id}", params={"q": "¿Quién envía el presupuesto?"}, headers=owner.headers
    )
    body = r.json()
    assert body["index_pending"] == 0 and "índice" not in body["answer"]
    assert "Ana envía el presupuesto el viernes" in body["answer"]


async def test_a_backend_killed_on_every_attempt_dead_letters_the_change_and_loses_nothing(
    servers, client, factory, resources, kill_chunk_inserts
):
    owner = await factory.user()
    project_id = await new_project(client, owner)
    document_id = await new_document(
        client, owner, project_id, "# Plazos\n\nLuis cierra el alcance el lunes."
    )
    await _set_kill_budget(resources, 1000)
    settings = make_settings(servers, ingestion={"retry_backoff": 0.01, "max_attempts": 3})

    async def settled() -> bool:
        return (await _document_status(resources, document_id))[0] == OutboxStatus.FAILED

    await drain_until(settings, resources, settled)
    status, attempts, error = await _document_status(resources, document_id)
    assert (status, attempts) == (OutboxStatus.FAILED, 3)
    assert error is not None and "terminat" in error.lower()
    assert await chunk_rows(resources, source_id=uuid.UUID(document_id)) == []

    r = await client.get(f"/api/v1/projects/{project_id}/index-status", headers=owner.headers)
    index = r.json()
    assert index["failed"] >= 1
    assert any(f["source_id"] == document_id and f["error"] == error for f in index["failures"])
    r = await client.get(f"/api/v1/projects/documents/{document_id}", headers=owner.headers)
    assert r.status_code == 200 and "Luis cierra el alcance" in r.json()["content"]

    # The operator fixes the cause and retries: the change is indexed after all.
    await _set_kill_budget(resources, 0)
    r = await client.post(f"/api/v1/projects/{project_id}/index/retry", headers=owner.headers)
    assert r.json()["retried"] >= 1
    await drain(settings, resources)
    assert (await _document_status(resources, document_id))[0] == OutboxStatus.DONE
    assert len(await chunk_rows(resources, source_id=uuid.UUID(document_id))) >= 1
