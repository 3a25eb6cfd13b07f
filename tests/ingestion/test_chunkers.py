"""Chunkers: structure first, token budgets kept, nothing dropped, the metadata a citation needs."""

from __future__ import annotations

import itertools
import re

import pytest

from core.models import SourceType
from core.tokens import count_tokens
from ingestion.chunkers import (
    chunk_chat_turn,
    chunk_items,
    chunk_prose,
    chunk_transcript,
    detect_language,
)
from tests.ingestion.helpers import numbered_document, sentence_numbers

BUDGET = 120


def prose(text: str, *, title: str = "Acta", max_tokens: int = BUDGET, overlap: int = 30):
    return chunk_prose(
        text,
        source_type=SourceType.DOCUMENT,
        title=title,
        context="Documento",
        max_tokens=max_tokens,
        overlap=overlap,
    )


def body(content: str) -> str:
    """A chunk's text without its `[context › title › section]` header line."""
    return content.split("\n", 1)[1]


def test_prose_splits_on_headings_then_sentences_with_overlap_and_a_header():
    sentences = " ".join(f"Frase {n}: el equipo revisa el alcance con el cliente." for n in range(40))
    text = f"# Alcance\n\nLa web tendrá tres secciones.\n\n# Plazos\n\n{sentences}\n\n## Riesgos\n\nLluvia."

    chunks = prose(text)

    sections = [chunk.meta["section"] for chunk in chunks]
    assert sections[0] == "Alcance"
    assert sections[-1] == "Plazos › Riesgos"
    assert sections.count("Plazos") > 2  # the long section needed several chunks
    assert chunks[0].content == "[Documento › Acta › Alcance]\nLa web tendrá tres secciones."
    assert chunks[-1].content == "[Documento › Acta › Plazos › Riesgos]\nLluvia."
    assert [chunk.chunk_index for chunk in chunks] == list(range(len(chunks)))
    assert all(count_tokens(chunk.content) <= BUDGET for chunk in chunks)
    assert {chunk.language for chunk in chunks} == {"es"}

    long_section = [chunk for chunk in chunks if chunk.meta["section"] == "Plazos"]
    for chunk in long_section:
        # Whole sentences: the splitter cut between them, never inside one.
        assert re.fullmatch(
            r"(Frase \d+: el equipo revisa el alcance con el cliente\.\s*)+", body(chunk.content)
        )
    for previous, current in itertools.pairwise(long_section):
        # Overlap: each chunk opens with the end of the one before.
        assert min(sentence_numbers(current.content)) <= max(sentence_numbers(previous.content))
    assert set().union(*(sentence_numbers(chunk.content) for chunk in long_section)) == set(range(40))


def test_paragraphs_stay_whole_when_they_fit():
    paragraphs = [f"Párrafo {n}. " + "El cliente pide cambios en la portada. " * 4 for n in range(6)]
    chunks = prose("\n\n".join(paragraphs), max_tokens=200, overlap=0)

    assert len(chunks) > 1
    for chunk in chunks:
        for piece in body(chunk.content).split("\n\n"):
            assert piece.strip() in [paragraph.strip() for paragraph in paragraphs]


def test_a_five_megabyte_document_is_chunked_whole():
    text, count = numbered_document(5 * 1024 * 1024)

    chunks = prose(text, max_tokens=400, overlap=60)

    assert len(text.encode()) >= 5 * 1024 * 1024
    assert set().union(*(sentence_numbers(chunk.content) for chunk in chunks)) == set(range(count))
    assert max(count_tokens(chunk.content) for chunk in chunks) <= 400


def test_a_long_title_does_not_push_chunks_over_the_budget():
    chunks = prose("palabra " * 2000, title="Un título larguísimo " * 20, max_tokens=64, overlap=10)

    assert max(count_tokens(chunk.content) for chunk in chunks) <= 64
    assert all(chunk.content.startswith("[Documento › Un título larguísimo") for chunk in chunks)
    assert sum(body(chunk.content).count("palabra") for chunk in chunks) >= 2000


def test_headings_without_text_under_them_are_not_dropped():
    chunks = prose("# Objetivos\n# Entregables\n## Diseño\nMaquetas en Figma.\n# Cierre")

    assert [(chunk.meta["section"], body(chunk.content)) for chunk in chunks] == [
        ("Objetivos", "Objetivos"),
        ("Entregables › Diseño", "Maquetas en Figma."),
        ("Cierre", "Cierre"),
    ]


@pytest.mark.parametrize("text", ["", "   ", "\n\n\t  \n"])
def test_empty_or_whitespace_text_gives_no_chunks(text):
    assert prose(text) == []
    assert chunk_transcript([{"start": 0, "end": 1, "text": text}], **TRANSCRIPT) == []
    assert chunk_items([text], source_type=SourceType.KEY_POINTS, label="Punto clave", **ITEM_MEETING) == []
    assert chunk_chat_turn("¿Algo?", text, max_tokens=BUDGET, overlap=10) == []


TRANSCRIPT = {"meeting_id": "m-1", "meeting_title": "Revisión semanal", "max_tokens": BUDGET}
ITEM_MEETING = {"meeting_id": "m-1", "meeting_title": "Revisión semanal", "max_tokens": BUDGET}


def segments(count: int) -> list[dict]:
    speakers = ["Ana", "Luis", "Marta"]
    return [
        {
            "start": 5.0 * n,
            "end": 5.0 * n + 4.5,
            "speaker": speakers[n % 3],
            "text": f"Intervención {n}: hablamos del presupuesto y de las fechas de entrega del proyecto.",
        }
        for n in range(count)
    ]


def test_transcripts_are_grouped_along_segments_with_one_segment_of_overlap():
    source = segments(30)

    chunks = chunk_transcript(source, **TRANSCRIPT)

    assert len(chunks) > 3
    assert all(chunk.source_type == SourceType.TRANSCRIPT for chunk in chunks)
    assert all(count_tokens(chunk.content) <= BUDGET for chunk in chunks)
    assert all(chunk.content.startswith("[Transcripción › Revisión semanal]\n") for chunk in chunks)
    for chunk in chunks:
        ids = chunk.meta["segment_ids"]
        assert ids == list(range(ids[0], ids[-1] + 1))
        assert chunk.meta["start"] == source[ids[0]]["start"]
        assert chunk.meta["end"] == source[ids[-1]]["end"]
        assert chunk.meta["speakers"] == sorted({source[i]["speaker"] for i in ids})
        assert chunk.meta["meeting_id"] == "m-1"
        assert chunk.meta["title"] == "Revisión semanal"
        for i in ids:
            assert f"{source[i]['speaker']}: Intervención {i}:" in chunk.content
    for previous, current in itertools.pairwise(chunks):
        assert current.meta["segment_ids"][0] == previous.meta["segment_ids"][-1]
    assert {i for chunk in chunks for i in chunk.meta["segment_ids"]} == set(range(30))
    [with_fifth] = [
        chunk for chunk in chunks if chunk.meta["segment_ids"][0] == 5 or 5 in chunk.meta["segment_ids"][1:]
    ][:1]
    assert "\n[00:25] Marta: Intervención 5: hablamos del presupuesto" in with_fifth.content


def test_a_segment_longer_than_the_budget_is_cut_into_several_chunks():
    source = segments(3)
    words = [f"w{n}" for n in range(600)]
    source.append({"start": 15.0, "end": 95.0, "speaker": "Ana", "text": " ".join(words)})
    source += [
        {**segment, "start": 100.0 + segment["start"], "end": 100.0 + segment["end"]}
        for segment in segments(2)
    ]

    chunks = chunk_transcript(source, **TRANSCRIPT)

    long_parts = [chunk for chunk in chunks if 3 in chunk.meta["segment_ids"]]
    assert len(long_parts) > 2
    assert all(count_tokens(chunk.content) <= BUDGET for chunk in chunks)
    alone = [chunk for chunk in long_parts if chunk.meta["segment_ids"] == [3]]
    assert len(alone) >= 2
    assert all(chunk.meta["start"] == 15.0 and chunk.meta["end"] == 95.0 for chunk in alone)
    assert all("[00:15] Ana: w" in chunk.content for chunk in long_parts)
    found = set(re.findall(r"w\d+", " ".join(chunk.content for chunk in long_parts)))
    assert found == set(words)  # cut, not truncated
    for previous, current in itertools.pairwise(chunks):
        # Every chunk brings something new (none is only the previous chunk's overlap again).
        assert set(body(current.content).splitlines()) - set(body(previous.content).splitlines())


def test_key_points_and_commitments_are_one_chunk_each():
    key_points = chunk_items(
        ["Se aprueba el diseño", "  ", "El hosting pasa a AWS"],
        source_type=SourceType.KEY_POINTS,
        label="Punto clave",
        **ITEM_MEETING,
    )
    commitments = chunk_items(
        [
            {"text": "Enviar la maqueta", "owner": "Ana", "due": "2026-12-01", "segment_ids": [4, 5]},
            {"task": "Revisar el contrato", "owner": "Luis"},
        ],
        source_type=SourceType.COMMITMENTS,
        label="Compromiso",
        **ITEM_MEETING,
    )

    assert [chunk.content for chunk in key_points] == [
        "[Punto clave › Revisión semanal]\nSe aprueba el diseño",
        "[Punto clave › Revisión semanal]\nEl hosting pasa a AWS",
    ]
    assert [chunk.chunk_index for chunk in key_points] == [0, 1]
    assert [chunk.content for chunk in commitments] == [
        "[Compromiso › Revisión semanal]\nAna: Enviar la maqueta (fecha: 1 de diciembre de 2026)",
        "[Compromiso › Revisión semanal]\nLuis: Revisar el contrato",
    ]
    assert commitments[0].meta == {
        "owner": "Ana",
        "due": "2026-12-01",
        "segment_ids": [4, 5],
        "meeting_id": "m-1",
        "title": "Revisión semanal",
    }
    assert commitments[1].meta["owner"] == "Luis"
    assert "due" not in commitments[1].meta


def test_a_chat_turn_is_a_question_and_answer_pair():
    [chunk] = chunk_chat_turn(
        "¿Cuándo se entrega la web?", "El viernes 12, según el acta.", max_tokens=BUDGET, overlap=10
    )
    assert chunk.source_type == SourceType.CHAT
    assert chunk.content == "[Chat]\nP: ¿Cuándo se entrega la web?\nR: El viernes 12, según el acta."

    long_answer = " ".join(f"Frase {n}: la entrega depende del cliente." for n in range(60))
    parts = chunk_chat_turn("¿Qué riesgos hay?", long_answer, max_tokens=BUDGET, overlap=10)
    assert len(parts) > 1
    assert all(part.content.startswith("[Chat]\nP: ¿Qué riesgos hay?\nR: Frase ") for part in parts)
    assert all(count_tokens(part.content) <= BUDGET for part in parts)
    assert set().union(*(sentence_numbers(part.content) for part in parts)) == set(range(60))


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("La reunión de mañana es para revisar el presupuesto del proyecto con el cliente.", "es"),
        ("The meeting tomorrow is about the budget of the project and the timeline for it.", "en"),
        ("🚀🔥👍 🎉", "simple"),
        ("", "simple"),
        ("API SDK URL", "simple"),
    ],
)
def test_detect_language(text, language):
    assert detect_language(text) == language
