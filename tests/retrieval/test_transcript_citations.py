"""Transcripts are ranked in small units and cited at the granularity people cite: an answer's citation
carries the start, end and speaker of the segment it quotes, not a long chunk's; the answerer reads the
unit's neighbours (its window); a user's LlamaIndex postprocessor runs on every answer's retrieval."""

from __future__ import annotations

import json
from typing import Any

import pytest
from llama_index.core.postprocessor import SimilarityPostprocessor

from retrieval.tasks import PostprocessorError, answer_tasks, load_postprocessor
from retrieval.windows import narrow_to_segments, unit_segments
from tests.meetings.helpers import API, drain_meetings, make_meeting, upload

FILLER = [
    "Vale, seguimos con el siguiente punto del orden del día.",
    "Perfecto, lo apunto en el acta de la reunión.",
    "De acuerdo, comentadlo luego por el canal del equipo.",
]
FACTS = {
    9: ("Lucía", "El hosting del cliente costará cuarenta y dos euros al mes con el plan profesional."),
    20: (
        "Marcos",
        "La migración de la base de datos se hará el sábado por la noche para no cortar el servicio.",
    ),
    31: ("Lucía", "El logotipo nuevo usa el azul marino y el naranja del manual de marca."),
}


def transcript() -> list[dict[str, Any]]:
    segments = []
    for index in range(40):
        speaker, text = FACTS.get(index, ("Marcos" if index % 2 else "Lucía", FILLER[index % 3]))
        segments.append({"start": index * 10.0, "end": index * 10.0 + 9.5, "speaker": speaker, "text": text})
    return segments


async def _ask(client, owner, project_id: str, question: str) -> dict[str, Any]:
    r = await client.get(f"{API}/ai/ask/{project_id}", params={"q": question}, headers=owner.headers)
    assert r.status_code == 200, r.text
    return dict(r.json())


async def test_citations_carry_the_quoted_segment(client, factory, settings, resources) -> None:
    owner = await factory.user()
    project_id, meeting_id = await make_meeting(client, owner)
    r = await upload(client, owner, meeting_id, "reunion.json", json.dumps(transcript()).encode())
    assert r.status_code == 202, r.text
    await drain_meetings(settings, resources)

    for segment_id, (speaker, sentence) in FACTS.items():
        question = {
            9: "¿Cuánto costará el hosting al mes?",
            20: "¿Cuándo se hará la migración de la base de datos?",
            31: "¿Qué colores usa el logotipo nuevo?",
        }[segment_id]
        body = await _ask(client, owner, project_id, question)
        assert body["grounded"], body
        assert sentence.rstrip(".") in body["answer"]
        transcript_citations = [c for c in body["citations"] if c["source_type"] == "transcript"]
        assert transcript_citations, body
        cited = transcript_citations[0]
        assert cited["meeting_id"] == meeting_id
        assert cited["segment_ids"] == [segment_id]
        assert (cited["start"], cited["end"]) == (segment_id * 10.0, segment_id * 10.0 + 9.5)
        assert cited["speakers"] == [speaker]

    # Search ranks the small units: the hit for a fact spans a few segments, not the meeting.
    r = await client.get(
        f"{API}/ai/search/{project_id}",
        params={"q": "migración de la base de datos", "source_type": "transcript"},
        headers=owner.headers,
    )
    top = r.json()["results"][0]
    assert top["start"] <= 200.0 <= top["end"] and top["end"] - top["start"] < 60


def test_a_unit_is_matched_to_its_segments_and_a_sentence_to_its_segment() -> None:
    content = "\n".join(
        [
            "[Transcripción › Kickoff]",
            "[00:00] Ana: Hola a todos.",
            "[00:05] Luis: El presupuesto es de 18.500 euros.",
        ]
    )
    meta = {
        "segments": [
            {"id": 0, "start": 0.0, "end": 5.0, "speaker": "Ana"},
            {"id": 1, "start": 5.0, "end": 9.0, "speaker": "Luis"},
        ]
    }
    segments = unit_segments(content, meta)
    assert [s["text"] for s in segments] == ["Hola a todos.", "El presupuesto es de 18.500 euros."]
    assert narrow_to_segments("El presupuesto es de 18.500 euros", segments) == [segments[1]]
    assert narrow_to_segments("La reunión acabó tarde", segments) == []


async def test_a_user_postprocessor_runs_on_every_answer(client, factory, settings, resources) -> None:
    owner = await factory.user()
    project_id, meeting_id = await make_meeting(client, owner)
    r = await upload(client, owner, meeting_id, "reunion.json", json.dumps(transcript()).encode())
    assert r.status_code == 202, r.text
    await drain_meetings(settings, resources)
    question = "¿Cuánto costará el hosting al mes?"
    assert (await _ask(client, owner, project_id, question))["grounded"]

    # LlamaIndex's own score cut-off, set above any fused score: nothing is left to answer from.
    dropping = SimilarityPostprocessor(similarity_cutoff=2.0)
    resources.ai = answer_tasks(None, resources.prompts)
    object.__setattr__(resources.ai, "postprocessors", (dropping,))
    try:
        body = await _ask(client, owner, project_id, question)
    finally:
        resources.ai = answer_tasks(None, resources.prompts)
    assert not body["grounded"] and "cuarenta y dos" not in body["answer"]


def test_postprocessors_load_from_settings_and_a_bad_one_stops_the_start() -> None:
    made = load_postprocessor("llama_index.core.postprocessor:LongContextReorder")
    assert type(made).__name__ == "LongContextReorder"
    for bad in (
        "nonsense",
        "no.such.module:Thing",
        "llama_index.core.postprocessor:NoSuchThing",
        "json:dumps",
    ):
        with pytest.raises(PostprocessorError):
            load_postprocessor(bad)


async def test_a_question_across_meetings_is_answered_from_each_in_order(
    client, factory, settings, resources
) -> None:
    owner = await factory.user()
    project_id, first = await make_meeting(client, owner, start_time="2026-10-01T10:00:00+00:00")
    _, second = await make_meeting(
        client, owner, project_id=project_id, start_time="2026-11-05T10:00:00+00:00"
    )
    said = {
        first: "El lanzamiento de la tienda será el 20 de noviembre.",
        second: "Movemos el lanzamiento de la tienda al 27 de noviembre por las fotos.",
    }
    for meeting_id, sentence in said.items():
        segments = transcript()
        segments[12] = {**segments[12], "text": sentence}
        r = await upload(client, owner, meeting_id, "reunion.json", json.dumps(segments).encode())
        assert r.status_code == 202, r.text
        await drain_meetings(settings, resources)

    body = await _ask(client, owner, project_id, "¿Cómo ha cambiado la fecha de lanzamiento de la tienda?")
    answer = body["answer"]
    assert "20 de noviembre" in answer and "27 de noviembre" in answer, body
    assert answer.index("20 de noviembre") < answer.index("27 de noviembre")
    meetings = [c["meeting_id"] for c in body["citations"] if c["source_type"] == "transcript"]
    assert meetings[:2] == [first, second]


async def test_whether_something_was_done_is_retrieved_from_every_meeting() -> None:
    """ "¿Mandó Olga el listado?": the promise is in one meeting and the report in a later one, so such a
    question reads twice the chunks with the best of each meeting first, as "what changed" questions do."""
    from types import SimpleNamespace

    from core.settings import RetrievalSettings
    from retrieval.pipeline import retrieve

    class Stub:
        top_k = 0
        session = None
        model = SimpleNamespace(name="static")
        read = 0

        async def aretrieve(self, bundle: Any) -> list[Any]:
            self.read = self.top_k
            return []

        async def search(self, *args: Any, **kwargs: Any) -> list[Any]:
            return []

    config = RetrievalSettings()
    for question, factor in [
        ("¿Mandó Olga el listado de clínicas?", 2),
        ("¿Cómo ha cambiado la fecha de lanzamiento?", 2),
        ("¿Qué incluye el plan profesional?", 1),
    ]:
        stub = Stub()
        assert await retrieve(question, retriever=stub, config=config) == []  # type: ignore[arg-type]
        assert stub.read == config.answer_chunks * factor, question
