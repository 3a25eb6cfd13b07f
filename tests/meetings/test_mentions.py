"""What a later meeting says about earlier commitments (meetings/mentions.py), sentence by sentence:
pure functions over segments, no database."""

from __future__ import annotations

from datetime import date

from meetings.mentions import DONE, Candidate, match_mention, progress_mentions

MEETING_DAY = date(2026, 3, 10)


def segments(*turns: tuple[str, str]) -> list[dict[str, object]]:
    return [
        {"start": i * 5.0, "end": i * 5.0 + 5, "speaker": speaker, "text": text}
        for i, (speaker, text) in enumerate(turns)
    ]


def candidates(*rows: tuple[str, str]) -> list[Candidate]:
    open_by_owner = {owner: sum(o == owner for o, _ in rows) for owner, _ in rows}
    return [Candidate(task, owner, task, open_by_owner[owner]) for owner, task in rows]


MARTA = candidates(("Marta", "pedir las fotos al cliente"), ("Marta", "revisar el contrato del hosting"))


def test_the_speakers_lead_in_says_what_a_pronoun_stands_for() -> None:
    """ "Siguiente: las fotos. Marta las mandó el lunes.": the topic is named a sentence before, in the
    same turn; the mention closes Marta's photos, not her other open commitment."""
    found = progress_mentions(
        segments(("Ana", "Vale. Siguiente: las fotos. Marta las mandó el lunes.")), MEETING_DAY
    )
    assert [(m.kind, m.owner) for m in found] == [(DONE, "Marta")]
    chosen = match_mention(found[0], MARTA)
    assert chosen is not None and chosen.task == "pedir las fotos al cliente"
    # Without the lead-in, nothing says which of her two commitments it is.
    found = progress_mentions(segments(("Ana", "Vale. Marta las mandó el lunes.")), MEETING_DAY)
    assert found and match_mention(found[0], MARTA) is None


def test_ya_esta_followed_by_more_says_it_is_done() -> None:
    """ "Tomás, lo de las credenciales..." - "Sí. Ya está, pero costó.": done, by the one asked."""
    found = progress_mentions(
        segments(
            ("Ana", "Tomás, lo de las credenciales de la API..."),
            ("Tomás", "Sí. Ya está, pero costó. Llegaron el martes."),
        ),
        MEETING_DAY,
    )
    assert found and found[0].kind == DONE and found[0].owner == "Tomás"
    rows = candidates(("Tomás", "pedir las credenciales de la API"), ("Tomás", "dar de alta a Luis"))
    chosen = match_mention(found[0], rows)
    assert chosen is not None and chosen.task == "pedir las credenciales de la API"
    # Asked, it is not said to be done.
    assert progress_mentions(segments(("Ana", "¿Ya está, entonces?")), MEETING_DAY) == []
