"""Uploading real files as project documents: converted, indexed and searchable with their page and
section; the original kept for members and removed with its document; bad files refused with their
status and nothing stored (no row, no file, no outbox row)."""

from __future__ import annotations

import os
import time
import urllib.parse
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from api.app import create_app
from api.resources import Resources
from core.document_files import document_path, documents_root, sweep_orphan_documents
from core.models import Document, MemberRole
from core.settings import Settings
from ingestion.convert.isolation import ConverterPool
from tests.api.crud_helpers import assert_error, outbox_rows
from tests.conftest import Factory, make_settings
from tests.documents.samples import (
    encrypt_ooxml,
    make_docx,
    make_pdf,
    make_pptx,
    make_scanned_pdf,
    make_xlsx,
    zip_bomb,
)
from tests.ingestion.helpers import drain, new_project

API = "/api/v1"
PDF = "application/pdf"


async def upload(client: httpx.AsyncClient, actor, project_id: str, name: str, data: bytes, mime: str = PDF):
    return await client.post(
        f"{API}/projects/{project_id}/documents/upload",
        files={"file": (name, data, mime)},
        headers=actor.headers,
    )


async def documents_in_db(resources: Resources) -> int:
    async with resources.sessionmaker() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(Document)) or 0)


def stored_files(settings: Settings, project_id: str) -> list[Path]:
    """Files (whole or partly written) kept for the project's documents."""
    folder = documents_root(settings) / project_id
    return sorted(path for path in folder.rglob("*") if path.is_file()) if folder.exists() else []


@pytest.mark.parametrize(
    ("name", "make", "kind", "pages", "expected"),
    [
        ("Propuesta año.pdf", lambda: make_pdf(3), "pdf", 3, "<!-- page 2 -->\n\n# Sección 2: Calendario"),
        ("briefing.docx", lambda: make_docx(sections=2), "docx", None, "## Entregables 2"),
        (
            "presupuesto.xlsx",
            lambda: make_xlsx(rows=3),
            "xlsx",
            3,
            "## Equipo\n\n| Persona | Rol | Dedicación |",
        ),
        ("pitch.pptx", lambda: make_pptx(slides=3), "pptx", 3, "<!-- slide 3 -->\n# Calendario"),
    ],
    ids=["pdf", "docx", "xlsx", "pptx"],
)
async def test_an_upload_is_converted_and_its_original_kept(
    client, factory: Factory, settings: Settings, name, make, kind, pages, expected
) -> None:
    editor = await factory.user()
    project_id = await new_project(client, editor)
    data = make()

    r = await upload(client, editor, project_id, name, data, "application/octet-stream")

    assert r.status_code == 201, r.text
    document = r.json()
    assert document["source_format"] == kind
    assert document["page_count"] == pages
    assert document["file_size"] == len(data)
    assert document["source_filename"] == name
    assert document["title"] == name
    assert expected in document["content"]
    assert document["conversion_warnings"] == []
    path = document_path(settings, uuid.UUID(project_id), uuid.UUID(document["id"]))
    assert path.read_bytes() == data


async def test_an_uploaded_pdf_is_searchable_and_cited_with_page_and_section(
    client, factory: Factory, settings: Settings, resources: Resources
) -> None:
    owner = await factory.user()
    project_id = await new_project(client, owner)
    r = await upload(client, owner, project_id, "propuesta.pdf", make_pdf(5, marker="zanahoria"))
    assert r.status_code == 201, r.text
    await drain(settings, resources)

    r = await client.get(
        f"{API}/ai/search/{project_id}", params={"q": "zanahoria-p4", "mode": "text"}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    best = r.json()["results"][0]
    assert (best["page"], best["section"], best["page_end"]) == (4, "Sección 4: Riesgos", None)
    assert best["title"] == "propuesta.pdf"

    r = await client.get(
        f"{API}/ai/ask/{project_id}",
        params={"q": "¿Qué dice la referencia zanahoria-p4?"},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    citations = r.json()["citations"]
    assert citations
    assert all(citation["page"] and citation["section"] for citation in citations)
    assert any(citation["page"] == 4 for citation in citations)


async def test_members_download_the_original_and_nobody_else_sees_it(client, factory: Factory) -> None:
    owner, viewer, outsider = await factory.user(), await factory.user(), await factory.user()
    project_id = await new_project(client, owner)
    await factory.member(uuid.UUID(project_id), viewer, MemberRole.VIEWER)
    data = make_pdf(2)
    document_id = (await upload(client, owner, project_id, "Propuesta año.pdf", data)).json()["id"]
    url = f"{API}/projects/documents/{document_id}/file"

    r = await client.get(url, headers=viewer.headers)
    assert r.status_code == 200
    assert r.content == data
    assert r.headers["content-type"] == PDF
    disposition = r.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert urllib.parse.quote("Propuesta año.pdf") in disposition

    assert_error(await client.get(url, headers=outsider.headers), 404)
    assert_error(await client.get(url), 401)
    typed = (
        await client.post(
            f"{API}/projects/{project_id}/documents",
            json={"title": "T", "content": "c"},
            headers=owner.headers,
        )
    ).json()["id"]
    assert_error(
        await client.get(f"{API}/projects/documents/{typed}/file", headers=owner.headers), 404, "no_file"
    )


async def test_deleting_the_document_or_its_project_deletes_the_file(
    client, factory: Factory, settings: Settings
) -> None:
    owner = await factory.user()
    project_id = await new_project(client, owner)
    first = (await upload(client, owner, project_id, "a.pdf", make_pdf(1))).json()["id"]
    second = (await upload(client, owner, project_id, "b.docx", make_docx(sections=1))).json()["id"]
    first_path = document_path(settings, uuid.UUID(project_id), uuid.UUID(first))
    second_path = document_path(settings, uuid.UUID(project_id), uuid.UUID(second))
    assert first_path.exists() and second_path.exists()

    assert (
        await client.delete(f"{API}/projects/documents/{first}", headers=owner.headers)
    ).status_code == 204
    assert not first_path.exists()
    assert second_path.exists()

    assert (await client.delete(f"{API}/projects/{project_id}", headers=owner.headers)).status_code == 204
    assert not second_path.parent.exists()


BAD_FILES = [
    ("cifrado.pdf", lambda: make_pdf(1, user_password="secreto"), 422, "encrypted"),
    ("cifrado.docx", lambda: encrypt_ooxml(make_docx(sections=1)), 422, "encrypted"),
    ("escaneado.pdf", lambda: make_scanned_pdf(1), 422, "scanned_pdf"),
    ("roto.pdf", lambda: b"%PDF-1.7\n1 0 obj\n", 422, "corrupt_file"),
    ("roto.xlsx", lambda: make_xlsx(rows=2)[:-300], 422, "corrupt_file"),
    ("bomba.docx", lambda: zip_bomb(entry_bytes=64 * 1024 * 1024), 422, "zip_bomb"),
    ("contrato.pdf", lambda: make_docx(sections=1), 415, "type_mismatch"),
    ("presupuesto.xlsx", lambda: b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 415, "type_mismatch"),
    ("latin1.txt", lambda: "año".encode("latin-1"), 422, "invalid_encoding"),
    ("vacío.pdf", lambda: b"", 422, "empty_file"),
]


@pytest.mark.parametrize(("name", "make", "status", "code"), BAD_FILES, ids=[row[0] for row in BAD_FILES])
async def test_a_bad_file_is_refused_and_nothing_is_stored(
    client, factory: Factory, settings: Settings, resources: Resources, name, make, status, code
) -> None:
    editor = await factory.user()
    project_id = await new_project(client, editor)
    outbox_before = len(await outbox_rows(resources))

    error = assert_error(await upload(client, editor, project_id, name, make()), status, code)

    assert error["message"]
    assert await documents_in_db(resources) == 0
    assert stored_files(settings, project_id) == []
    assert len(await outbox_rows(resources)) == outbox_before


async def test_a_file_over_the_upload_limit_is_a_413(
    servers, factory: Factory, settings: Settings, resources: Resources
) -> None:
    small = make_settings(servers, http={"max_upload_bytes": 4096})
    app = create_app(small, resources=resources)
    editor = await factory.user()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        project_id = await new_project(client, editor)
        assert_error(await upload(client, editor, project_id, "grande.pdf", make_pdf(12)), 413)
    assert await documents_in_db(resources) == 0
    assert stored_files(settings, project_id) == []


async def test_a_conversion_that_takes_too_long_is_stopped_and_stores_nothing(
    client, factory: Factory, settings: Settings, resources: Resources
) -> None:
    editor = await factory.user()
    project_id = await new_project(client, editor)
    patient = resources.converter
    resources.converter = ConverterPool(workers=1, timeout=0.001, memory_bytes=patient.memory_bytes)
    try:
        error = assert_error(
            await upload(client, editor, project_id, "largo.pdf", make_pdf(40)), 422, "conversion_timeout"
        )
    finally:
        await resources.converter.close()
        resources.converter = patient
    assert "longer than" in error["message"]
    assert await documents_in_db(resources) == 0
    assert stored_files(settings, project_id) == []
    # the pool still converts once the slow file is gone
    assert (await upload(client, editor, project_id, "corto.pdf", make_pdf(1))).status_code == 201


async def test_the_sweep_removes_originals_of_deleted_documents_only(
    client, factory: Factory, servers, resources: Resources, tmp_path: Path
) -> None:
    private = make_settings(servers, data_dir=tmp_path / "data")
    owner = await factory.user()
    project_id = uuid.UUID(await new_project(client, owner))
    async with resources.sessionmaker() as session:
        kept = Document(project_id=project_id, title="t", content="c", file_size=1)
        session.add(kept)
        await session.commit()
    hour = 3600.0

    def plant(path: Path, age: float) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x")
        stamp = time.time() - age
        os.utime(path, (stamp, stamp))
        return path

    live = plant(document_path(private, project_id, kept.id), age=2 * hour)
    deleted = plant(document_path(private, project_id, uuid.uuid4()), age=2 * hour)
    in_flight = plant(document_path(private, project_id, uuid.uuid4()), age=60)
    gone_project = plant(document_path(private, uuid.uuid4(), uuid.uuid4()), age=2 * hour)

    async with resources.sessionmaker() as session:
        assert await sweep_orphan_documents(session, private, grace_seconds=hour) == 2
    assert live.exists() and in_flight.exists()
    assert not deleted.exists() and not gone_project.exists()
