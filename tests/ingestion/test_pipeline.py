"""Artifacts written through the API end up chunked and embedded by a real arq worker."""

from __future__ import annotations

from core.models import OutboxStatus, SourceType
from tests.ingestion.helpers import chunk_rows, drain, outbox_rows


async def _project(client, actor, **fields):
    r = await client.post("/api/v1/projects", json={"title": "Web Acme", **fields}, headers=actor.headers)
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def test_document_is_chunked_embedded_and_replaced(client, factory, settings, resources):
    owner = await factory.user()
    project_id = await _project(client, owner, description="Rediseño de la web corporativa de Acme.")
    text = "# Alcance\n\nLa web tendrá tres secciones y un blog.\n\n# Plazos\n\nEntrega el viernes 12."
    r = await client.post(
        f"/api/v1/projects/{project_id}/documents", json={"title": "Acta", "content": text}, headers=owner.headers
    )
    doc_id = r.json()["id"]
    await drain(settings, resources)

    chunks = await chunk_rows(resources, source_type=SourceType.DOCUMENT)
    assert [c.meta["section"] for c in chunks] == ["Alcance", "Plazos"]
    assert all(c.embedding_model == "static/tokenlearn-64" and len(c.embedding) == 64 for c in chunks)
    assert all(c.language == "es" and c.token_count > 0 for c in chunks)
    assert "[Documento › Acta › Plazos]" in chunks[1].content
    assert all(row.status == OutboxStatus.DONE for row in await outbox_rows(resources))

    r = await client.put(
        f"/api/v1/projects/documents/{doc_id}", json={"content": "Solo una línea nueva."}, headers=owner.headers
    )
    assert r.status_code == 200
    await drain(settings, resources)
    chunks = await chunk_rows(resources, source_type=SourceType.DOCUMENT)
    assert len(chunks) == 1 and "Solo una línea nueva." in chunks[0].content

    r = await client.delete(f"/api/v1/projects/documents/{doc_id}", headers=owner.headers)
    assert r.status_code == 204
    assert await chunk_rows(resources, source_type=SourceType.DOCUMENT) == []
    await drain(settings, resources)
    assert await chunk_rows(resources, source_type=SourceType.DOCUMENT) == []
