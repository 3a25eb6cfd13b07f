"""The offline answerer: it quotes the retrieved sentences that answer the question, with citations."""

from __future__ import annotations

from typing import Any

from core.providers.llm import ContextPassage, Generation, Usage
from retrieval.answerers import ExtractiveAnswerer, extractive_answer

SPANISH = [
    ContextPassage(3, "El proyecto empezó en marzo. Los servidores están en Frankfurt."),
    ContextPassage(
        7, "[Documento › Facturas]\nEl cliente pidió cambios. Ana enviará la factura el viernes. Luis revisa."
    ),
]
ENGLISH = [
    ContextPassage(1, "The kickoff meeting was on Monday. Everyone attended."),
    ContextPassage(2, "The hosting contract renews in May. Maria will send the invoice on Friday!"),
]


def test_extractive_answer_quotes_the_answering_sentence_with_its_citation():
    answer = extractive_answer("¿Quién enviará la factura?", SPANISH)
    assert answer.startswith("Ana enviará la factura el viernes [7].")
    assert "Frankfurt" not in answer and "[3]" not in answer and "Documento" not in answer

    answer = extractive_answer("Who will send the invoice?", ENGLISH)
    assert answer.startswith("Maria will send the invoice on Friday [2]!")
    assert "[1]" not in answer

    answer = extractive_answer("¿Dónde están los servidores?", SPANISH)
    assert answer.startswith("Los servidores están en Frankfurt [3].")


def test_extractive_answer_is_empty_when_nothing_overlaps():
    assert extractive_answer("¿Cuál es la receta de la paella?", SPANISH) == ""
    assert extractive_answer("de la que el", SPANISH) == ""  # only stop words
    assert extractive_answer("🎉🔥", ENGLISH) == ""
    assert extractive_answer("¿Quién enviará la factura?", []) == ""


async def test_the_extractive_answerer_streams_that_answer():
    usage = Usage()
    generation = Generation(messages=[], question="¿Quién enviará la factura?", passages=SPANISH)
    pieces = [piece async for piece in ExtractiveAnswerer().answer(generation, usage)]
    assert len(pieces) > 1 and "".join(pieces) == extractive_answer(generation.question, SPANISH)
    assert usage.completion_tokens == len(pieces) and usage.prompt_tokens > 0


def test_a_citation_stands_only_where_its_source_supports_the_sentence() -> None:
    from retrieval.answer import keep_supported_citations

    sources = _budget_and_support()
    answer = "El presupuesto es de 18.500 euros [1]. El hosting cuesta cuarenta euros al mes [2]."
    assert keep_supported_citations(answer, sources) == (
        "El presupuesto es de 18.500 euros [1]. El hosting cuesta cuarenta euros al mes."
    )
    assert (
        keep_supported_citations("Se atienden en cuatro horas [2].", sources)
        == "Se atienden en cuatro horas [2]."
    )


def test_a_sentence_left_uncited_is_cited_to_the_source_that_holds_most_of_its_words() -> None:
    from retrieval.answer import cite_uncited_sentences

    sources = _budget_and_support()
    answer = (
        "El presupuesto cerrado es de 18.500 euros.\n"
        "Las incidencias críticas se atienden en cuatro horas [2]. Sí. "
        "El equipo celebrará la entrega con una cena"
    )
    assert cite_uncited_sentences(answer, sources) == (
        "El presupuesto cerrado es de 18.500 euros [1].\n"
        "Las incidencias críticas se atienden en cuatro horas [2]. Sí. "
        "El equipo celebrará la entrega con una cena"
    )
    # Half of the words is not enough when the model did not claim the source.
    half = "El presupuesto incluye diseño, fotografía y formación."
    assert cite_uncited_sentences(half, sources) == half
    assert cite_uncited_sentences("Cuatro horas para incidencias críticas", sources) == (
        "Cuatro horas para incidencias críticas [2]"
    )


def _budget_and_support() -> list[Any]:
    """Two numbered document sources: [1] the budget, [2] the support hours."""
    import uuid

    from core.models import SourceType
    from retrieval.answer import Source
    from retrieval.search import Hit

    def source(n: int, text: str) -> Source:
        hit = Hit(n, uuid.uuid4(), SourceType.DOCUMENT, uuid.uuid4(), 0, text, {}, 0.1, 0.9, None)
        return Source(n, hit)

    return [
        source(1, "[Documento › Propuesta]\nEl presupuesto cerrado es de 18.500 euros más IVA."),
        source(2, "[Documento › Soporte]\nLas incidencias críticas se atienden en cuatro horas."),
    ]
