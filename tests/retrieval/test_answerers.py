"""The offline answerer: it quotes the retrieved sentences that answer the question, with citations."""

from __future__ import annotations

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
