"""core.text: fold's fast paths (ASCII, Latin marks) give what the plain definition gives; content terms."""

from __future__ import annotations

import random
import unicodedata

import pytest

from core.text import content_terms, fold, with_equivalents


def reference(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


@pytest.mark.parametrize(
    "text",
    [
        "Según el Éxito de la Reunión",
        "plain ASCII, 123",
        "Ünïcödé ﬁ ² Ω ß İstanbul 東京 🙂 ñandú Ça",
        "кириллица с ударе\u0301нием, עִבְרִית, हिन्दी",  # marks outside the Latin block
        "",
    ],
)
def test_fold_is_lower_case_without_marks(text: str) -> None:
    assert fold(text) == reference(text)


def test_fold_matches_the_definition_on_random_text() -> None:
    rng = random.Random(7)
    for _ in range(50):
        text = "".join(chr(rng.randrange(0x2FFFF)) for _ in range(200))
        assert fold(text) == reference(text)


def test_text_lines_join_what_a_hard_wrap_split_and_keep_blocks_apart() -> None:
    from core.text import split_sentences, text_lines

    text = (
        "[Documento › Propuesta › Alcance]\n"
        "Un párrafo partido en\n"
        "dos líneas. Y otra frase.\n"
        "\n"
        "Otro párrafo\n"
        "- un punto de la lista que sigue\n"
        "  en la línea siguiente\n"
        "## Precio\n"
        "| a | b |\n"
        "| c | d |\n"
        "[01:00] Laura: Eso es\n"
        "[01:11] Ramón: Vale\n"
        "Ana García: una línea de quien habla\n"
        "Luis: otra"
    )
    assert text_lines(text) == [
        "[Documento › Propuesta › Alcance]",
        "Un párrafo partido en dos líneas. Y otra frase.",
        "Otro párrafo",  # a blank line ends a paragraph, and a list item starts a block
        "- un punto de la lista que sigue en la línea siguiente",
        "## Precio",
        "| a | b |",
        "| c | d |",
        "[01:00] Laura: Eso es",  # transcript turns stay one per line
        "[01:11] Ramón: Vale",
        "Ana García: una línea de quien habla",
        "Luis: otra",
    ]
    assert split_sentences(text)[:2] == ["Un párrafo partido en dos líneas.", "Y otra frase."]
    assert "Laura: Eso es" in split_sentences(text)


def test_header_parts_read_back_the_header_the_chunker_writes() -> None:
    from core.text import header_parts
    from ingestion.chunkers import _header

    header = _header("Documento", "Propuesta de la web", "Propuesta: web", "Mantenimiento", max_tokens=400)
    assert header_parts(f"{header}\nOpcional: 450 € al mes.") == [
        "Documento",
        "Propuesta de la web",
        "Propuesta: web",
        "Mantenimiento",
    ]
    assert header_parts("Sin cabecera. [Nota › al margen]") == []


def test_the_forms_of_elegir_share_one_term() -> None:
    """ "¿Qué logo eligieron?" is answered by "elegisteis la segunda": the stem's vowel change (e -> i) does
    not split the verb's forms; other words keep their five letters."""
    forms = ["eligieron", "eligió", "elija", "elijo", "elegisteis", "elegimos", "elegido"]
    assert {content_terms(form) for form in forms} == {("elegi",)}
    assert content_terms("eligieron el logo") == ("elegi", "logo")


def test_a_word_and_its_equivalent_in_the_other_language_are_one_term() -> None:
    """ "¿Cuánto cuesta el hosting?" is answered by "Alojamiento: 28 € al mes": the terms match, and the
    full-text query looks for both words (only the ones it lacks, only once)."""
    assert content_terms("el hosting") == content_terms("Alojamiento")
    assert content_terms("la newsletter") == content_terms("el boletín")
    assert with_equivalents("precio del hosting?") == "precio del hosting? alojamiento"
    assert with_equivalents("Alojamiento y Newsletter") == "Alojamiento y Newsletter boletin hosting"
    assert with_equivalents("hosting o alojamiento") == "hosting o alojamiento"
    assert with_equivalents("precio del dominio") == "precio del dominio"
