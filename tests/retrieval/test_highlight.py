"""Snippets made in Python (retrieval/highlight.py): the query's words marked as the full-text index
compares them (stems, accents folded, stop words never), HTML-safe, from the part of the chunk where they
are."""

from __future__ import annotations

import re

from retrieval.highlight import MAX_FRAGMENTS, MAX_WORDS, QueryTerms, snippet

MARKED = re.compile(r"<mark>(.*?)</mark>")


def marked(query: str, content: str, language: str = "es") -> list[str]:
    text, found = snippet(content, language, QueryTerms.of(query))
    assert sorted({word.lower() for word in MARKED.findall(text)}) == found
    return found


def test_words_match_by_stem_and_without_accents() -> None:
    content = "[Acta › Kickoff]\nEn las reuniones de enero revisamos el presupuesto y la migracion."
    assert marked("¿Qué presupuestos se vieron en la reunión sobre la migración?", content) == [
        "migracion",
        "presupuesto",
        "reuniones",
    ]


def test_stop_words_are_never_marked_in_either_language() -> None:
    # "más" is a Spanish stop word; its English stem "mas" must not mark the Spanish "masa", and the
    # Spanish "la" / "de" of the question mark nothing either.
    content = "La masa de la pizza lleva más harina que agua."
    assert marked("¿Qué es lo más caro de la pizza?", content) == ["pizza"]


def test_an_english_chunk_matches_a_spanish_question_through_the_english_stemmer() -> None:
    content = "The invoices were sent to the client after the meeting."
    assert marked("invoice client", content, "en") == ["client", "invoices"]


def test_a_chunk_of_no_known_language_compares_words_as_they_are() -> None:
    assert marked("Verisign certificado", "Verisign SSL · certificado EV · renovación", "simple") == [
        "certificado",
        "verisign",
    ]


def test_the_snippet_is_html_safe_and_skips_the_header_line() -> None:
    content = (
        '[Documento › Formulario <b>contacto</b>]\nEl formulario mostraba <script>alert(1)</script> & "más".'
    )
    text, found = snippet(content, "es", QueryTerms.of("formulario script"))
    assert "Documento ›" not in text and "&lt;b&gt;" not in text
    assert "&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt;" in text
    assert "&amp; &quot;más&quot;." in text
    assert set(re.findall(r"<[^>]+>", text)) <= {"<mark>", "</mark>"}
    assert found == ["formulario", "script"]


def test_no_match_gives_the_start_of_the_text_escaped() -> None:
    content = "[Doc › X]\n" + "<texto> " * 100
    text, found = snippet(content, "es", QueryTerms.of("presupuesto"))
    assert found == [] and text.startswith("&lt;texto&gt; ") and text.endswith("…") and "<" not in text


def test_long_chunks_show_the_fragments_around_the_matches() -> None:
    words = ["relleno"] * 200
    words[120] = "presupuesto"
    words[20] = "factura"
    text, found = snippet(" ".join(words) + ".", "es", QueryTerms.of("presupuesto factura"))
    fragments = text.split(" … ")
    assert found == ["factura", "presupuesto"] and len(fragments) == MAX_FRAGMENTS
    assert "<mark>factura</mark>" in fragments[0] and "<mark>presupuesto</mark>" in fragments[1]
    assert all(len(fragment.split()) <= MAX_WORDS for fragment in fragments)


def test_the_fragments_with_the_most_different_words_then_the_most_matches_win() -> None:
    words = [f"relleno{i}" for i in range(300)]
    for i in (10, 12, 14):  # one word three times
        words[i] = "factura"
    words[100] = "factura"  # once
    words[200], words[205] = "factura", "presupuesto"  # two different words
    text, _ = snippet(" ".join(words), "es", QueryTerms.of("presupuesto factura"))
    first, second = text.split(" … ")
    assert MARKED.findall(first) == ["factura"] * 3 and "relleno100" not in text
    assert MARKED.findall(second) == ["factura", "presupuesto"]
