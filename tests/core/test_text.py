"""core.text.fold: the fast paths (ASCII, Latin marks) give what the plain definition gives."""

from __future__ import annotations

import random
import unicodedata

import pytest

from core.text import fold


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
