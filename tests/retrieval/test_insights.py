"""Insights (health + items with citations, cached and invalidated) and suggested questions."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from core.models import Meeting, SourceType, Transcription
from core.outbox import record_change
from tests.ingestion.helpers import drain


async def _project_with_meeting(client, factory, resources):
    owner = await factory.user()
    today = date.today()
    r = await client.post(
        "/api/v1/projects",
        json={
            "title": "App móvil",
            "progress": 20,
            "start_date": str(today - timedelta(days=80)),
            "end_date": str(today + timedelta(days=20)),
            "budget": 1000,
            "hourly_rate": 50,
            "estimated_hours": 30,
            "actual_hours": 25,
        },
        headers=owner.headers,
    )
    project_id = uuid.UUID(r.json()["id"])
    async with resources.sessionmaker() as session:
        meeting = Meeting(
            project_id=project_id,
            title="Kickoff",
            room_id=f"room-{uuid.uuid4()}",
            start_time=datetime.now(UTC),
        )
        session.add(meeting)
        await session.flush()
        transcription = Transcription(
            meeting_id=meeting.id,
            processing_status="completed",
            segments=[
                {
                    "start": 0.0,
                    "end": 5.0,
                    "speaker": "Ana",
                    "text": "Me encargo de enviar el presupuesto el viernes.",
                },
                {
                    "start": 5.0,
                    "end": 9.0,
                    "speaker": "Luis",
                    "text": "Hay riesgo de retraso por la API del banco.",
                },
            ],
            summary="Se revisó el alcance de la app.",
            key_points=["La app tendrá login con banco"],
            decisions=["Se usará React Native"],
            next_steps=["Preparar el prototipo"],
            commitments=[
                {"owner": "Ana", "task": "enviar el presupuesto", "due": "2026-12-04", "segment_ids": [0]}
            ],
        )
        session.add(transcription)
        await session.flush()
        await record_change(
            session, project_id=project_id, source_type=SourceType.TRANSCRIPT, source_id=transcription.id
        )
        await session.commit()
    return owner, project_id


async def test_insights_health_items_and_cache(client, factory, settings, resources):
    owner, project_id = await _project_with_meeting(client, factory, resources)
    await drain(settings, resources)

    r = await client.get(f"/api/v1/ai/insights/{project_id}", headers=owner.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["health"]["status"] in {"at_risk", "off_track"}
    assert body["cached"] is False
    assert "presupuesto" in body["commitments"][0]["text"]
    assert body["commitments"][0]["citations"][0]["source_type"] == "commitments"
    assert any("React Native" in item["text"] for item in body["decisions"])
    assert any("riesgo" in item["text"].lower() for item in body["risks"])
    assert any("prototipo" in item["text"] for item in body["next_steps"])

    r = await client.get(f"/api/v1/ai/insights/{project_id}", headers=owner.headers)
    assert r.json()["cached"] is True
    await client.put(f"/api/v1/projects/{project_id}", json={"progress": 95}, headers=owner.headers)
    r = await client.get(f"/api/v1/ai/insights/{project_id}", headers=owner.headers)
    assert r.json()["cached"] is False

    r = await client.get(f"/api/v1/ai/suggestions/{project_id}", headers=owner.headers)
    questions = [s["question"] for s in r.json()["suggestions"]]
    assert any("compromisos" in q for q in questions) and any("Kickoff" in q for q in questions)


def test_a_risk_repeated_in_several_sources_is_one_item_citing_them_all() -> None:
    from retrieval.answer import Source
    from retrieval.insights import extractive_items
    from retrieval.search import Hit

    sentence = "Hay riesgo de retraso por la API del banco."

    def hit(n: int, content: str) -> Hit:
        return Hit(n, uuid.uuid4(), SourceType.DOCUMENT, uuid.uuid4(), 0, content, {}, 1.0, None, None)

    sources = [
        Source(1, hit(1, f"Página uno. {sentence}")),
        Source(2, hit(2, f"{sentence} Página dos.")),
        Source(3, hit(3, "Otro riesgo: el presupuesto no alcanza.")),
    ]
    risks = extractive_items({"risks": sources})["risks"]
    assert [item["text"] for item in risks] == [sentence, "Otro riesgo: el presupuesto no alcanza."]
    assert [c["n"] for c in risks[0]["citations"]] == [1, 2]
