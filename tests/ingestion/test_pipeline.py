"""Artifacts written through the API (or by the services) end up chunked and embedded by a real arq worker,
stay in step with every change and deletion, and bad input is refused or stored without harm."""

from __future__ import annotations

import asyncio
import json
import uuid
from types import SimpleNamespace

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import async_sessionmaker

from api.deps import get_session
from api.services import documents as document_service
from core import feed, keys
from core.db import create_engine
from core.errors import Invalid
from core.models import (
    Chunk,
    Document,
    Outbox,
    OutboxAction,
    OutboxStatus,
    SourceType,
    Transcription,
)
from core.outbox import record_change
from core.providers.embeddings import STATIC_MODEL
from core.tokens import count_tokens
from core.vectors import register_model
from ingestion.jobs import Runtime, _lock_source, _source_lock_key, process_outbox_row
from tests.conftest import make_settings
from tests.ingestion.helpers import (
    CountingEmbedder,
    GatedEmbedder,
    all_artifacts,
    chunk_rows,
    chunk_view,
    drain,
    new_document,
    new_meeting,
    new_project,
    new_transcription,
    numbered_document,
    outbox_rows,
    sentence_numbers,
)


async def test_document_is_chunked_embedded_and_replaced(client, factory, settings, resources):
    owner = await factory.user()
    project_id = await new_project(client, owner, description="Rediseño de la web corporativa de Acme.")
    text = "# Alcance\n\nLa web tendrá tres secciones y un blog.\n\n# Plazos\n\nEntrega el viernes 12."
    doc_id = await new_document(client, owner, project_id, text)
    await drain(settings, resources)

    chunks = await chunk_rows(resources, source_type=SourceType.DOCUMENT)
    assert [c.meta["section"] for c in chunks] == ["Alcance", "Plazos"]
    assert all(c.embedding_model == STATIC_MODEL and len(c.embedding) == 64 for c in chunks)
    assert all(c.language == "es" and c.token_count == count_tokens(c.content) for c in chunks)
    assert "[Documento › Acta › Plazos]" in chunks[1].content
    assert all(row.status == OutboxStatus.DONE for row in await outbox_rows(resources))

    r = await client.put(
        f"/api/v1/projects/documents/{doc_id}",
        json={"content": "Solo una línea nueva."},
        headers=owner.headers,
    )
    assert r.status_code == 200
    await drain(settings, resources)
    chunks = await chunk_rows(resources, source_type=SourceType.DOCUMENT)
    assert len(chunks) == 1
    assert "Solo una línea nueva." in chunks[0].content

    r = await client.delete(f"/api/v1/projects/documents/{doc_id}", headers=owner.headers)
    assert r.status_code == 204
    assert await chunk_rows(resources, source_type=SourceType.DOCUMENT) == []
    await drain(settings, resources)
    assert await chunk_rows(resources, source_type=SourceType.DOCUMENT) == []


async def test_job_progress_is_published_on_the_project_feed(client, factory, settings, resources):
    owner = await factory.user()
    project_id = await new_project(client, owner, description="Rediseño de la web.")
    document_id = await new_document(client, owner, project_id, "# Uno\n\nPrimera.\n\n# Dos\n\nSegunda.")
    await drain(settings, resources)
    entries = await feed.read(
        resources.redis, [keys.project_feed(project_id)], feed.START, count=100, block_ms=None
    )
    events = [json.loads(entry.data) for entry in entries if entry.kind == "index.indexed"]
    by_source = {event["source_id"]: event for event in events}
    assert (by_source[document_id]["chunks"], by_source[document_id]["embedded"]) == (2, 2)
    assert by_source[project_id]["source_type"] == "project"
    assert {event["project_id"] for event in events} == {project_id}


async def test_every_kind_of_artifact_is_chunked_by_the_worker(client, factory, settings, resources):
    owner = await factory.user()
    ids = await all_artifacts(client, resources, owner)

    await drain(settings, resources)

    chunks = await chunk_rows(resources)
    by_type: dict[SourceType, list[Chunk]] = {}
    for chunk in chunks:
        by_type.setdefault(chunk.source_type, []).append(chunk)
    assert set(by_type) == set(SourceType)
    assert {str(chunk.project_id) for chunk in chunks} == {ids["project"]}
    assert all(chunk.embedding_model == STATIC_MODEL and len(chunk.embedding) == 64 for chunk in chunks)
    assert all(
        row.status == OutboxStatus.DONE and row.last_error is None for row in await outbox_rows(resources)
    )

    [project] = by_type[SourceType.PROJECT]
    assert project.content.startswith("[Proyecto › Web Acme]\n")
    assert "Rediseño de la web corporativa de Acme." in project.content
    assert str(project.source_id) == ids["project"]
    [document] = by_type[SourceType.DOCUMENT]
    assert document.content == "[Documento › Acta › Alcance]\nTres secciones y un blog."
    [meeting] = by_type[SourceType.MEETING]
    assert meeting.meta["meeting_id"] == ids["meeting"]
    assert "Seguimiento." in meeting.content

    [transcript] = by_type[SourceType.TRANSCRIPT]
    assert str(transcript.source_id) == ids["transcription"]
    assert transcript.meta["meeting_id"] == ids["meeting"]
    assert transcript.meta["title"] == "Revisión semanal"
    assert transcript.meta["start"] == 0.0
    assert transcript.meta["end"] == 15.0
    assert transcript.meta["speakers"] == ["Ana", "Luis"]
    assert transcript.meta["segment_ids"] == [0, 1, 2]
    assert "[00:04] Luis: El hosting costará cuarenta euros al mes." in transcript.content
    [summary] = by_type[SourceType.SUMMARY]
    assert summary.meta["meeting_id"] == ids["meeting"]
    assert "Se revisó el presupuesto" in summary.content
    [key_point] = by_type[SourceType.KEY_POINTS]
    assert key_point.content == "[Punto clave › Revisión semanal]\nEl hosting cuesta 40 € al mes"
    [commitment] = by_type[SourceType.COMMITMENTS]
    assert (
        commitment.content
        == "[Compromiso › Revisión semanal]\nAna: Cerrar el alcance (fecha: 4 de diciembre de 2026)"
    )
    assert commitment.meta["owner"] == "Ana"
    assert commitment.meta["due"] == "2026-12-04"
    [chat] = by_type[SourceType.CHAT]
    assert str(chat.source_id) == ids["chat"]
    assert chat.content == (
        "[Chat]\nP: ¿Cuánto cuesta el hosting?\nR: Cuarenta euros al mes, según la reunión del lunes."
    )


async def test_running_jobs_again_leaves_the_same_chunks(client, factory, settings, resources):
    owner = await factory.user()
    await all_artifacts(client, resources, owner)
    await drain(settings, resources)
    before = await chunk_rows(resources)
    assert len(before) == len(SourceType)

    # Every job delivered once more (as after a lost acknowledgement): the same chunks, untouched
    # (same rows), and nothing embedded again.
    async with resources.sessionmaker() as session, session.begin():
        await session.execute(
            sa.update(Outbox).values(
                status=OutboxStatus.PENDING, enqueued_at=None, dispatches=Outbox.dispatches + 1
            )
        )
    counter = CountingEmbedder()
    await drain(settings, resources, embedders={STATIC_MODEL: counter})
    again = await chunk_rows(resources)
    assert chunk_view(again) == chunk_view(before)
    assert [c.id for c in again] == [c.id for c in before]
    assert counter.texts == []
    assert all(row.status == OutboxStatus.DONE for row in await outbox_rows(resources))

    # Nothing pending: another drain changes nothing at all.
    await drain(settings, resources, embedders={STATIC_MODEL: counter})
    after = await chunk_rows(resources)
    assert [c.id for c in after] == [c.id for c in before]
    assert chunk_view(after) == chunk_view(before)
    assert counter.texts == []


async def test_the_same_job_run_twice_at_once_is_applied_once(client, factory, settings, resources):
    owner = await factory.user()
    project_id = await new_project(client, owner)
    await new_document(client, owner, project_id, "# Uno\n\nPrimera parte.\n\n# Dos\n\nSegunda parte.")
    document_row = next(row for row in await outbox_rows(resources) if row.source_type == SourceType.DOCUMENT)
    async with resources.sessionmaker() as session, session.begin():
        await register_model(session, name=STATIC_MODEL, dimensions=64)
    runtime = Runtime(settings=settings, sessionmaker=resources.sessionmaker, redis=resources.redis)
    counter = CountingEmbedder()
    runtime.embedders[STATIC_MODEL] = counter

    results = await asyncio.gather(
        process_outbox_row(runtime, document_row.id), process_outbox_row(runtime, document_row.id)
    )

    assert sorted(results) == ["done", "skipped"]
    assert len(counter.texts) == 2
    chunks = await chunk_rows(resources, source_type=SourceType.DOCUMENT)
    assert [chunk.chunk_index for chunk in chunks] == [0, 1]


async def test_only_chunks_whose_text_changed_are_embedded_again(client, factory, settings, resources):
    owner = await factory.user()
    project_id = await new_project(client, owner)
    sections = {
        "Alcance": "Tres secciones y un blog.",
        "Plazos": "Entrega el viernes.",
        "Equipo": "Ana y Luis.",
    }
    text = "\n\n".join(f"# {name}\n\n{body}" for name, body in sections.items())
    doc_id = await new_document(client, owner, project_id, text)
    counter = CountingEmbedder()
    await drain(settings, resources, embedders={STATIC_MODEL: counter})
    assert len([t for t in counter.texts if t.startswith("[Documento")]) == 3
    before = {c.chunk_index: c for c in await chunk_rows(resources, source_type=SourceType.DOCUMENT)}

    counter.texts.clear()
    edited = text.replace("Entrega el viernes.", "Entrega el lunes 15.")
    r = await client.put(
        f"/api/v1/projects/documents/{doc_id}", json={"content": edited}, headers=owner.headers
    )
    assert r.status_code == 200
    await drain(settings, resources, embedders={STATIC_MODEL: counter})

    assert counter.texts == ["[Documento › Acta › Plazos]\nEntrega el lunes 15."]
    after = {c.chunk_index: c for c in await chunk_rows(resources, source_type=SourceType.DOCUMENT)}
    assert after[1].content == "[Documento › Acta › Plazos]\nEntrega el lunes 15."
    for index in (0, 2):  # untouched sections are left as they were
        assert after[index].id == before[index].id
        assert after[index].content == before[index].content
        assert list(after[index].embedding) == list(before[index].embedding)

    # A change that leaves the text as it was (same content PUT again) records nothing to do.
    outbox_before = len(await outbox_rows(resources))
    r = await client.put(
        f"/api/v1/projects/documents/{doc_id}", json={"content": edited}, headers=owner.headers
    )
    assert r.status_code == 200
    assert len(await outbox_rows(resources)) == outbox_before


async def test_deletions_reach_the_index(client, factory, settings, resources):
    owner = await factory.user()
    ids = await all_artifacts(client, resources, owner)
    other = await all_artifacts(client, resources, owner)
    second_meeting = await new_meeting(client, owner, ids["project"], title="Otra reunión")
    second_transcription = await new_transcription(resources, ids["project"], second_meeting)
    await drain(settings, resources)

    async def sources(project_id: str) -> set[tuple[SourceType, str]]:
        chunks = await chunk_rows(resources, project_id=uuid.UUID(project_id))
        return {(chunk.source_type, str(chunk.source_id)) for chunk in chunks}

    assert (SourceType.TRANSCRIPT, str(second_transcription)) in await sources(ids["project"])

    # A document.
    r = await client.delete(f"/api/v1/projects/documents/{ids['document']}", headers=owner.headers)
    assert r.status_code == 204
    await drain(settings, resources)
    assert not [s for s in await sources(ids["project"]) if s[1] == ids["document"]]

    # A transcription on its own: its transcript, summary, key points and commitments go; the meeting stays.
    async with resources.sessionmaker() as session, session.begin():
        await session.execute(sa.delete(Transcription).where(Transcription.id == second_transcription))
        await record_change(
            session,
            project_id=uuid.UUID(ids["project"]),
            source_type=SourceType.TRANSCRIPT,
            source_id=second_transcription,
            action=OutboxAction.DELETE,
        )
    await drain(settings, resources)
    remaining = await sources(ids["project"])
    assert not [s for s in remaining if s[1] == str(second_transcription)]
    assert (SourceType.MEETING, second_meeting) in remaining

    # A meeting with its transcription.
    r = await client.delete(f"/api/v1/meetings/{ids['meeting']}", headers=owner.headers)
    assert r.status_code == 204
    await drain(settings, resources)
    remaining = await sources(ids["project"])
    assert not [s for s in remaining if s[1] in (ids["meeting"], ids["transcription"])]
    assert remaining == {
        (SourceType.PROJECT, ids["project"]),
        (SourceType.CHAT, ids["chat"]),
        (SourceType.MEETING, second_meeting),
    }

    # A project: everything of it, and nothing of the other project.
    other_before = await sources(other["project"])
    r = await client.delete(f"/api/v1/projects/{ids['project']}", headers=owner.headers)
    assert r.status_code == 204
    await drain(settings, resources)
    assert await sources(ids["project"]) == set()
    assert await sources(other["project"]) == other_before
    assert len(other_before) == len(SourceType)
    assert all(row.status == OutboxStatus.DONE for row in await outbox_rows(resources))


async def test_a_meeting_deleted_while_its_transcript_is_being_indexed_leaves_no_chunks(
    client, factory, settings, resources
):
    owner = await factory.user()
    ids = await all_artifacts(client, resources, owner)
    await drain(settings, resources)
    transcription_id = uuid.UUID(ids["transcription"])
    async with resources.sessionmaker() as session, session.begin():
        transcription = await session.get(Transcription, transcription_id)
        transcription.summary = "Resumen corregido: el hosting cuesta 45 € al mes."
        update = await record_change(
            session,
            project_id=uuid.UUID(ids["project"]),
            source_type=SourceType.SUMMARY,
            source_id=transcription_id,
        )
    gated = GatedEmbedder()
    runtime = Runtime(settings=settings, sessionmaker=resources.sessionmaker, redis=resources.redis)
    runtime.embedders[STATIC_MODEL] = gated
    reindexing = asyncio.create_task(process_outbox_row(runtime, update.id))
    await asyncio.wait_for(gated.entered.wait(), 10)

    # While the summary job embeds, the meeting (and with it the transcription) is deleted and its job runs.
    r = await client.delete(f"/api/v1/meetings/{ids['meeting']}", headers=owner.headers)
    assert r.status_code == 204
    [deletion] = [row for row in await outbox_rows(resources) if row.action == OutboxAction.DELETE]
    other = Runtime(settings=settings, sessionmaker=resources.sessionmaker, redis=resources.redis)
    deleting = asyncio.create_task(process_outbox_row(other, deletion.id))
    await _finished_or_waiting_for_a_lock(resources, deleting)
    gated.release.set()

    assert await asyncio.wait_for(asyncio.gather(reindexing, deleting), 20) == ["done", "done"]
    async with resources.sessionmaker() as session:
        left = await session.scalar(
            sa.select(sa.func.count())
            .select_from(Chunk)
            .where(
                sa.or_(
                    Chunk.source_id.in_([transcription_id, uuid.UUID(ids["meeting"])]),
                    Chunk.meta["meeting_id"].astext == ids["meeting"],
                )
            )
        )
    assert left == 0


async def _finished_or_waiting_for_a_lock(resources, task: asyncio.Task) -> None:
    deadline = asyncio.get_running_loop().time() + 10
    while not task.done():
        async with resources.engine.connect() as conn:
            waiting = await conn.scalar(
                sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted")
            )
        if waiting:
            return
        assert asyncio.get_running_loop().time() < deadline, "the deletion job neither ran nor waited"
        await asyncio.sleep(0.01)


async def test_a_write_that_rolls_back_leaves_no_outbox_row_and_enqueues_nothing(
    client, factory, resources, redis_client
):
    owner = await factory.user()
    project_id = await new_project(client, owner)
    await redis_client.delete("arq:queue")
    async with resources.sessionmaker() as session, session.begin():
        await session.execute(sa.delete(Outbox))

    # The request's own session dependency: the service flushed its rows, then the request failed.
    dependency = get_session(SimpleNamespace(method="POST"), resources)  # type: ignore[arg-type]
    session = await anext(dependency)
    await document_service.create_document(
        session, actor=owner.user, project_id=uuid.UUID(project_id), title="Acta", content="Texto."
    )
    await session.flush()
    assert await session.scalar(sa.select(sa.func.count()).select_from(Outbox)) == 1  # in the transaction
    try:
        await dependency.athrow(Invalid("the request failed after the service ran"))
    except Invalid:
        pass
    else:
        raise AssertionError("get_session swallowed the error")

    assert await outbox_rows(resources) == []
    async with resources.sessionmaker() as check:
        assert await check.scalar(sa.select(sa.func.count()).select_from(Document)) == 0
    assert await redis_client.zcard("arq:queue") == 0

    # A request that fails validation after changing the row records and enqueues nothing either.
    meeting_id = await new_meeting(client, owner, project_id, start_time="2026-12-01T10:00:00+00:00")
    async with resources.sessionmaker() as session, session.begin():
        await session.execute(sa.delete(Outbox))
    await redis_client.delete("arq:queue")
    r = await client.put(
        f"/api/v1/meetings/{meeting_id}",
        json={"title": "Nuevo título", "end_time": "2026-12-01T09:00:00+00:00"},
        headers=owner.headers,
    )
    assert r.status_code == 422
    assert await outbox_rows(resources) == []
    assert await redis_client.zcard("arq:queue") == 0

    # While a write that commits is enqueued at once.
    await new_document(client, owner, project_id, "Texto.")
    assert len(await outbox_rows(resources)) == 1
    assert await redis_client.zcard("arq:queue") == 1


async def test_empty_and_whitespace_documents_are_stored_without_chunks(client, factory, settings, resources):
    owner = await factory.user()
    project_id = await new_project(client, owner)
    empty = await new_document(client, owner, project_id, "", title="Vacío")
    blank_text = "  \n\n\t  \n"
    r = await client.post(
        f"/api/v1/projects/{project_id}/documents/upload",
        files={"file": ("blanco.txt", blank_text.encode(), "text/plain")},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    blank = r.json()["id"]

    await drain(settings, resources)

    for doc_id, content in ((empty, ""), (blank, blank_text)):
        r = await client.get(f"/api/v1/projects/documents/{doc_id}", headers=owner.headers)
        assert r.status_code == 200
        assert r.json()["content"] == content
        assert await chunk_rows(resources, source_id=uuid.UUID(doc_id)) == []
    rows = await outbox_rows(resources)
    assert [row.status for row in rows] == [OutboxStatus.DONE] * 3
    assert all(row.last_error is None for row in rows)


async def test_a_five_megabyte_document_is_stored_and_chunked_whole(client, factory, settings, resources):
    owner = await factory.user()
    project_id = await new_project(client, owner)
    text, sentences = numbered_document(5 * 1024 * 1024)

    doc_id = await new_document(client, owner, project_id, text, title="Grande")
    await drain(settings, resources)

    r = await client.get(f"/api/v1/projects/documents/{doc_id}", headers=owner.headers)
    assert r.json()["size"] == len(text)
    chunks = await chunk_rows(resources, source_id=uuid.UUID(doc_id))
    assert set().union(*(sentence_numbers(chunk.content) for chunk in chunks)) == set(range(sentences))
    assert max(chunk.token_count for chunk in chunks) <= settings.ingestion.chunk_tokens
    assert [chunk.chunk_index for chunk in chunks] == list(range(len(chunks)))


async def test_binary_or_badly_encoded_uploads_are_refused_and_nothing_is_stored(client, factory, resources):
    owner = await factory.user()
    project_id = await new_project(client, owner)
    outbox_before = len(await outbox_rows(resources))
    url = f"/api/v1/projects/{project_id}/documents/upload"

    r = await client.post(
        url,
        files={"file": ("foto.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "text/plain")},
        headers=owner.headers,
    )
    assert r.status_code == 415, r.text
    r = await client.post(
        url, files={"file": ("acta.md", "café".encode("latin-1"), "text/markdown")}, headers=owner.headers
    )
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid_encoding"
    r = await client.post(url, files={"file": ("foto.png", b"\x89PNG", "image/png")}, headers=owner.headers)
    assert r.status_code == 415, r.text

    r = await client.get(f"/api/v1/projects/{project_id}/documents", headers=owner.headers)
    assert r.json()["total"] == 0
    assert len(await outbox_rows(resources)) == outbox_before

    r = await client.post(
        url, files={"file": ("acta.md", "# Acta\n\nCafé.".encode(), "text/markdown")}, headers=owner.headers
    )
    assert r.status_code == 201
    assert r.json()["content"] == "# Acta\n\nCafé."


async def test_a_job_waits_for_its_artifact_lock_past_the_statement_timeout(
    client, factory, servers, resources
):
    """The other job holding the artifact's lock may embed for minutes: waiting for it is not a slow
    statement. The job waits (bounded by its own timeout), then runs with the statement timeout back."""
    short = make_settings(servers, db={"statement_timeout_ms": 300})
    owner = await factory.user()
    project_id = await new_project(client, owner)
    [row] = [r for r in await outbox_rows(resources) if r.source_id == uuid.UUID(project_id)]
    engine = create_engine(short)
    try:
        sessionmaker = async_sessionmaker(engine, expire_on_commit=False)
        async with sessionmaker() as session, session.begin():
            await register_model(session, name=STATIC_MODEL, dimensions=64)
        runtime = Runtime(settings=short, sessionmaker=sessionmaker, redis=resources.redis)
        key = _source_lock_key(SourceType.PROJECT, uuid.UUID(project_id))
        async with resources.engine.connect() as holder:
            await holder.execute(sa.select(sa.func.pg_advisory_lock(key)))
            job = asyncio.create_task(process_outbox_row(runtime, row.id))
            await _finished_or_waiting_for_a_lock(resources, job)
            await asyncio.sleep(1.0)  # three statement timeouts
            assert not job.done()
            await holder.execute(sa.select(sa.func.pg_advisory_unlock(key)))
        assert await asyncio.wait_for(job, 20) == "done"
        async with sessionmaker() as session, session.begin():
            await _lock_source(session, SourceType.PROJECT, uuid.UUID(project_id), 300)
            assert await session.scalar(sa.text("SHOW statement_timeout")) == "300ms"
    finally:
        await engine.dispose()
    [after] = [r for r in await outbox_rows(resources) if r.id == row.id]
    assert after.status == OutboxStatus.DONE and after.attempts <= 1


async def test_two_jobs_of_one_artifact_do_not_deadlock_on_the_superseded_row(
    client, factory, settings, resources
):
    """The newer change's job holds the artifact's lock and, when done, marks the older pending row
    superseded; the older row's job waits for the artifact's lock meanwhile. It must wait without holding
    its outbox row, or each waits for the other (PostgreSQL then kills one: a failed, retried job)."""
    owner = await factory.user()
    project_id = await new_project(client, owner)
    document_id = await new_document(client, owner, project_id, "Primera versión del acta.")
    r = await client.put(
        f"/api/v1/projects/documents/{document_id}",
        json={"title": "Acta", "content": "Segunda versión."},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text
    older, newer = [r for r in await outbox_rows(resources) if r.source_id == uuid.UUID(document_id)]
    async with resources.sessionmaker() as session, session.begin():
        await register_model(session, name=STATIC_MODEL, dimensions=64)
    gated = GatedEmbedder()
    runtime = Runtime(settings=settings, sessionmaker=resources.sessionmaker, redis=resources.redis)
    runtime.embedders[STATIC_MODEL] = gated
    newest = asyncio.create_task(process_outbox_row(runtime, newer.id))
    await asyncio.wait_for(gated.entered.wait(), 10)  # holds the artifact's lock, embedding
    other = Runtime(settings=settings, sessionmaker=resources.sessionmaker, redis=resources.redis)
    oldest = asyncio.create_task(process_outbox_row(other, older.id))
    await _finished_or_waiting_for_a_lock(resources, oldest)
    gated.release.set()
    assert await asyncio.wait_for(asyncio.gather(newest, oldest), 20) == ["done", "skipped"]
    rows = {r.id: r for r in await outbox_rows(resources)}
    assert rows[older.id].status == OutboxStatus.DONE and rows[older.id].attempts == 0
    assert rows[older.id].last_error == "superseded by a later change"
    assert rows[newer.id].status == OutboxStatus.DONE and rows[newer.id].attempts == 1
