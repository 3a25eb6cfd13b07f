"""Each listed document says where it is in the index: indexed (with its chunks), waiting, being retried
or failed; the newest change decides."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from core.models import Outbox, OutboxStatus
from tests.ingestion.helpers import drain, new_document, new_project

API = "/api/v1"


async def _states(client, actor, project_id: str) -> dict[str, tuple[str, int]]:
    r = await client.get(f"{API}/projects/{project_id}/documents", headers=actor.headers)
    assert r.status_code == 200, r.text
    return {item["title"]: (item["index_state"], item["indexed_chunks"]) for item in r.json()["items"]}


async def _mark(resources, document_id: str, **values) -> None:
    """Set the document's unfinished outbox rows as a worker would leave them."""
    async with resources.sessionmaker() as session, session.begin():
        await session.execute(
            sa.update(Outbox)
            .where(Outbox.source_id == uuid.UUID(document_id), Outbox.status != OutboxStatus.DONE)
            .values(**values)
        )


async def test_documents_list_their_index_state(client, factory, settings, resources):
    owner = await factory.user()
    project_id = await new_project(client, owner)
    ids = {
        title: await new_document(
            client, owner, project_id, f"# {title}\n\nEl blog tendrá tres secciones.", title
        )
        for title in ("Acta", "Oferta", "Plan", "Guía")
    }
    assert set((await _states(client, owner, project_id)).values()) == {("pending", 0)}

    await drain(settings, resources)
    indexed = await _states(client, owner, project_id)
    assert all(state == "indexed" and chunks >= 1 for state, chunks in indexed.values()), indexed

    for title in ("Oferta", "Plan", "Guía"):
        r = await client.put(
            f"{API}/projects/documents/{ids[title]}", json={"content": "Otro texto."}, headers=owner.headers
        )
        assert r.status_code == 200, r.text
    await _mark(resources, ids["Plan"], attempts=2)
    await _mark(resources, ids["Guía"], status=OutboxStatus.FAILED, attempts=5)
    states = await _states(client, owner, project_id)
    assert states == {
        "Acta": indexed["Acta"],
        "Oferta": ("pending", indexed["Oferta"][1]),  # its old chunks still answer until it is indexed
        "Plan": ("retrying", indexed["Plan"][1]),
        "Guía": ("failed", indexed["Guía"][1]),
    }
