"""The commitment ledger: commitments heard in a meeting become rows (owner matched to a member by name), a
later meeting that says one is done closes it with the evidence, and the API lists, filters and updates."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa

from core.models import Chunk, CommitmentStatus, MemberRole, SourceType
from tests.meetings.helpers import API, commitment_rows, drain_meetings, make_meeting, upload, vtt

MONTH_AGO = datetime.now(UTC).replace(hour=10, minute=0, second=0, microsecond=0) - timedelta(days=30)


async def test_commitments_are_ledgered_closed_later_filtered_and_updated(
    client, factory, settings, resources
) -> None:
    ana = await factory.user(full_name="Ana García")
    luis = await factory.user(full_name="Luis Pérez")
    marta = await factory.user(full_name="Marta Ruiz")
    project_id, first_meeting = await make_meeting(client, ana, start_time=MONTH_AGO.isoformat())
    await factory.member(uuid.UUID(project_id), luis, MemberRole.EDITOR)
    await factory.member(uuid.UUID(project_id), marta, MemberRole.VIEWER)

    r = await upload(
        client,
        ana,
        first_meeting,
        "seguimiento.vtt",
        vtt(
            ("Ana García", "Buenos días. Me encargo de enviar el presupuesto mañana."),
            ("Marta Ruiz", "Luis va a revisar el diseño de la portada para el 1/1/2099."),
            ("Luis Pérez", "Pedro se encarga de llamar al proveedor de hosting."),
            ("Ana García", "¿Alguien va a preparar el acta?"),
        ),
    )
    assert r.status_code == 202, r.text
    first_transcription = r.json()["id"]
    await drain_meetings(settings, resources)

    rows = {row.task: row for row in await commitment_rows(resources)}
    assert sorted(rows) == [
        "enviar el presupuesto",
        "llamar al proveedor de hosting",
        "revisar el diseño de la portada",
    ]
    budget, design, hosting = (
        rows["enviar el presupuesto"],
        rows["revisar el diseño de la portada"],
        rows["llamar al proveedor de hosting"],
    )
    assert (budget.owner_name, budget.owner_user_id) == ("Ana García", ana.id)  # the full name
    assert (design.owner_name, design.owner_user_id) == ("Luis", luis.id)  # a member's first name
    assert (hosting.owner_name, hosting.owner_user_id) == ("Pedro", None)  # not a member
    assert budget.due_date == MONTH_AGO.date() + timedelta(days=1)
    assert design.due_date == date(2099, 1, 1) and hosting.due_date is None
    assert budget.source_segments == [0] and design.source_segments == [1]
    assert {row.status for row in rows.values()} == {CommitmentStatus.OPEN}
    assert {str(row.transcription_id) for row in rows.values()} == {first_transcription}

    # A later meeting: "ya envié el presupuesto" closes the earlier commitment, with the evidence.
    _, second_meeting = await make_meeting(client, ana, project_id=project_id)
    r = await upload(
        client,
        ana,
        second_meeting,
        "cierre.vtt",
        vtt(
            ("Ana García", "Ya envié el presupuesto al cliente."),
            ("Luis Pérez", "Ya envié el contrato también."),
        ),
    )
    second_transcription = r.json()["id"]
    await drain_meetings(settings, resources)
    rows = {row.task: row for row in await commitment_rows(resources)}
    assert len(rows) == 3
    assert rows["enviar el presupuesto"].status == CommitmentStatus.DONE
    assert rows["enviar el presupuesto"].evidence == {
        "transcription_id": second_transcription,
        "meeting_id": second_meeting,
        "segment_ids": [0],
        "text": "Ya envié el presupuesto al cliente.",
    }
    # "ya envié el contrato" matches no commitment: the others stay open.
    assert rows["revisar el diseño de la portada"].status == CommitmentStatus.OPEN
    assert rows["llamar al proveedor de hosting"].status == CommitmentStatus.OPEN

    url = f"{API}/projects/{project_id}/commitments"

    async def tasks(actor=ana, **params: str) -> list[str]:
        r = await client.get(url, params=params, headers=actor.headers)
        assert r.status_code == 200, r.text
        page = r.json()
        assert page["total"] == len(page["items"])
        return [item["task"] for item in page["items"]]

    # Ordered by due date (undated last); every reader of the project may list.
    assert await tasks() == [
        "enviar el presupuesto",
        "revisar el diseño de la portada",
        "llamar al proveedor de hosting",
    ]
    assert await tasks(marta) == await tasks()
    assert await tasks(status="open") == ["revisar el diseño de la portada", "llamar al proveedor de hosting"]
    assert await tasks(status="done") == ["enviar el presupuesto"]
    assert await tasks(owner="luis") == ["revisar el diseño de la portada"]
    assert await tasks(owner=str(ana.id)) == ["enviar el presupuesto"]
    assert await tasks(owner="100%_") == []
    # Overdue: open and past due. The budget was due a month ago but is done; nothing else is late.
    assert await tasks(overdue="true") == []
    r = await client.get(url, headers=ana.headers)
    item = next(i for i in r.json()["items"] if i["task"] == "enviar el presupuesto")
    assert item["overdue"] is False and item["status"] == "done"
    assert item["evidence"]["segment_ids"] == [0]

    # PATCH: an editor may change a status; a viewer may not; another project's commitment is not found.
    patch = f"{url}/{rows['enviar el presupuesto'].id}"
    r = await client.patch(patch, json={"status": "open"}, headers=luis.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "open" and r.json()["overdue"] is True
    assert await tasks(overdue="true") == ["enviar el presupuesto"]
    assert await tasks(overdue="false") == [
        "revisar el diseño de la portada",
        "llamar al proveedor de hosting",
    ]
    r = await client.patch(patch, json={"status": "dropped"}, headers=marta.headers)
    assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    r = await client.patch(patch, json={"status": "finished"}, headers=luis.headers)
    assert r.status_code == 422
    r = await client.patch(patch, json={"status": "dropped", "task": "otra"}, headers=luis.headers)
    assert r.status_code == 422

    other_project, other_meeting = await make_meeting(client, luis)
    r = await upload(
        client, luis, other_meeting, "otro.vtt", vtt(("Luis Pérez", "Me encargo de la factura."))
    )
    await drain_meetings(settings, resources)
    (foreign,) = [row for row in await commitment_rows(resources) if str(row.meeting_id) == other_meeting]
    r = await client.patch(f"{url}/{foreign.id}", json={"status": "done"}, headers=luis.headers)
    assert r.status_code == 404
    r = await client.patch(
        f"{API}/projects/{other_project}/commitments/{foreign.id}",
        json={"status": "done"},
        headers=ana.headers,
    )
    assert r.status_code == 404  # ana is not a member there
    r = await client.get(f"{API}/projects/{other_project}/commitments", headers=ana.headers)
    assert r.status_code == 404
    assert (await commitment_rows(resources))[-1].status == CommitmentStatus.OPEN

    stored = {row.task: row.status for row in await commitment_rows(resources)}
    assert stored["enviar el presupuesto"] == CommitmentStatus.OPEN  # the viewer's PATCH changed nothing


async def test_the_ledger_status_is_indexed_and_answers_status_questions(
    client, factory, settings, resources
) -> None:
    ana = await factory.user(full_name="Ana García")
    project_id, first_meeting = await make_meeting(client, ana, start_time=MONTH_AGO.isoformat())
    r = await upload(
        client,
        ana,
        first_meeting,
        "arranque.vtt",
        vtt(
            ("Ana García", "Buenos días a todos, empezamos con el calendario."),
            ("Ana García", "Me encargo de enviar el presupuesto del hosting mañana."),
        ),
    )
    assert r.status_code == 202, r.text
    await drain_meetings(settings, resources)

    async def ask(question: str) -> dict[str, object]:
        r = await client.get(f"{API}/ai/ask/{project_id}", params={"q": question}, headers=ana.headers)
        assert r.status_code == 200, r.text
        return dict(r.json())

    body = await ask("¿Quién tiene pendiente enviar el presupuesto del hosting?")
    assert "Ana García" in str(body["answer"]) and "pendiente" in str(body["answer"])
    (cited,) = [c for c in body["citations"] if c["source_type"] == "commitments"]  # type: ignore[union-attr]
    assert cited["meeting_id"] == first_meeting and cited["segment_ids"] == [1]
    assert cited["start"] == 5.0  # the segment that made the commitment (vtt() gives 5 s a cue)

    # Marked done: the ledger's status reaches the index, and the answer says so.
    (row,) = await commitment_rows(resources)
    r = await client.patch(
        f"{API}/projects/{project_id}/commitments/{row.id}", json={"status": "done"}, headers=ana.headers
    )
    assert r.status_code == 200, r.text
    await drain_meetings(settings, resources)
    body = await ask("¿Se ha enviado ya el presupuesto del hosting?")
    assert "cumplido" in str(body["answer"]), body


async def commitment_chunks(resources) -> list[str]:
    async with resources.sessionmaker() as session:
        rows = await session.scalars(
            sa.select(Chunk.content)
            .where(Chunk.source_type == SourceType.COMMITMENTS)
            .order_by(Chunk.content)
        )
        return list(rows.all())


async def test_a_later_meeting_closes_and_moves_commitments_by_owner_and_task(
    client, factory, settings, resources
) -> None:
    ana = await factory.user(full_name="Ana García")
    project_id, first_meeting = await make_meeting(client, ana, start_time=MONTH_AGO.isoformat())
    r = await upload(
        client,
        ana,
        first_meeting,
        "arranque.vtt",
        vtt(
            ("Ana García", "Buenos días. Os paso el presupuesto del hosting el viernes."),
            ("Luis Pérez", "Con eso yo preparo la maqueta de la home."),
            ("Ana García", "Marta, ¿te encargas tú de pedir las fotos al cliente?"),
            ("Marta Ruiz", "Sí."),
            ("Luis Pérez", "Y yo reviso los textos legales antes del 1/1/2099."),
        ),
    )
    assert r.status_code == 202, r.text
    await drain_meetings(settings, resources)
    rows = {row.task: row for row in await commitment_rows(resources)}
    assert sorted((row.owner_name, task) for task, row in rows.items()) == [
        ("Ana García", "pasar el presupuesto del hosting"),
        ("Luis Pérez", "preparar la maqueta de la home"),
        ("Luis Pérez", "revisar los textos legales"),
        ("Marta Ruiz", "pedir las fotos al cliente"),
    ]

    # The next meeting reports on them; the words and who says them pick the commitment.
    _, second_meeting = await make_meeting(client, ana, project_id=project_id)
    r = await upload(
        client,
        ana,
        second_meeting,
        "seguimiento.vtt",
        vtt(
            ("Ana García", "Luis, la maqueta..."),
            ("Luis Pérez", "Sí, la presenté el martes."),
            ("Marta Ruiz", "Ya os mandé las fotos por correo."),
            ("Ana García", "Los textos legales pasan al 15 de enero, que el abogado está de viaje."),
            ("Ana García", "El presupuesto no lo he mandado todavía."),
        ),
    )
    second_transcription = r.json()["id"]
    await drain_meetings(settings, resources)
    rows = {row.task: row for row in await commitment_rows(resources)}
    assert len(rows) == 4
    mockup, photos = rows["preparar la maqueta de la home"], rows["pedir las fotos al cliente"]
    legal, budget = rows["revisar los textos legales"], rows["pasar el presupuesto del hosting"]
    assert mockup.status == CommitmentStatus.DONE and photos.status == CommitmentStatus.DONE
    assert mockup.evidence == {
        "transcription_id": second_transcription,
        "meeting_id": second_meeting,
        "segment_ids": [1],
        "text": "Sí, la presenté el martes.",
    }
    assert photos.evidence["segment_ids"] == [2]
    # Moved: still open, with the new date (resolved against the later meeting) and where it was said.
    assert legal.status == CommitmentStatus.OPEN and legal.due_date == date(2027, 1, 15)
    assert legal.evidence["segment_ids"] == [3] and legal.evidence["moved_from"] == "2099-01-01"
    # "no lo he mandado todavía" closes nothing.
    assert budget.status == CommitmentStatus.OPEN and budget.evidence == {}

    # The ledger as the API lists it, and as it is indexed: the new date and the statuses.
    r = await client.get(
        f"{API}/projects/{project_id}/commitments", params={"status": "open"}, headers=ana.headers
    )
    assert [(i["task"], i["due_date"]) for i in r.json()["items"]][-1] == (
        "revisar los textos legales",
        "2027-01-15",
    )
    indexed = " ".join(await commitment_chunks(resources))
    assert "revisar los textos legales (fecha: 15 de enero de 2027; estado: pendiente" in indexed
    assert (
        "preparar la maqueta de la home" in indexed
        and "estado: cumplido, «Sí, la presenté el martes.»" in indexed
    )

    # Summarised again, the later meeting changes nothing more (the same mentions, already applied).
    r = await client.post(
        f"{API}/transcriptions/{second_transcription}/regenerate-summary", headers=ana.headers
    )
    assert r.status_code == 202, r.text
    await drain_meetings(settings, resources)
    again = {row.task: (row.status, row.due_date, row.evidence) for row in await commitment_rows(resources)}
    assert again == {task: (row.status, row.due_date, row.evidence) for task, row in rows.items()}
