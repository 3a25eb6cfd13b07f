"""What a later meeting says about earlier commitments: that one is done ("lo envié el viernes 25", "ya os
mandé las fotos", "hecho", "ya está subido", "Pilar nos pasó los accesos") or has a new date ("los
textos pasan al diez de noviembre", "la cuenta estará para el seis"). Each mention says whose commitment
it is about when the sentence does (the speaker, a named person, the person just asked) and the words to
match a task on: the sentence and the question it answers ("Carmen, el moodboard lo mandaste, ¿no?" -
"Sí, lo envié el viernes 25"). The ledger (meetings/ledger.py) applies them."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from meetings.dates import resolve_due
from meetings.schemas import Segment, sentences_of
from meetings.verbs import PARTICIPLE, PRETERITE, VERB_MARK, forms_of, lemma_terms, reading

Kind = Literal["done", "moved"]
DONE: Kind = "done"
MOVED: Kind = "moved"

_TOKEN = re.compile(r"\w+")
CLITICS = {"me", "te", "se", "le", "les", "os", "nos", "lo", "la", "los", "las"}
NOT_NAMES = {"Ya", "Yo", "Eso", "Esto", "Sí", "No", "Vale", "Pues", "Bueno", "Y", "Entonces", "Hoy", "Ayer"}

# "Hecho.", "Está hecho", "ya está subido", "las fotos ya están", "it's done".
DONE_STATE = re.compile(
    r"^(?:\W*(?:sí|vale|bueno|pues|yes|ok)\W+)*(?:hecho|done|listo)\W*$|"
    r"\b(?:ya\s+)?(?:está|están|quedó|quedaron)\s+(?:ya\s+)?(?:hech|list|terminad|subid|enviad|mandad|"
    r"compartid|resuelt|cerrad|aprobad|firmad|pagad|configurad|montad|migrad|cambiad|preparad|"
    r"presentad|cread|pedid|revisad)[oa]s?\b|"
    r"\bya\s+(?:está|están)\W*$|^\W*(?:(?:sí|vale|bueno|pues|yes|ok)\W+)*ya\s+(?:está|están)\s*,|"
    r"\b(?:it's|it is|that's|that is|is|are)\s+(?:already\s+)?(?:done|finished|sent)\b",
    re.IGNORECASE,
)
PERFECT = re.compile(
    r"\b(?P<aux>he|hemos|ha|han|I've|we've|I have|we have|has)\s+(?:ya\s+)?(?P<verb>\w+)", re.I
)
ENGLISH_PAST = re.compile(
    r"\b(?P<who>I|we|[A-Z][a-z]+)\s+(?:already\s+)?(?P<verb>sent|shared|finished|completed|did|uploaded|"
    r"delivered|signed|paid|created|prepared|updated|fixed|called|emailed|booked|reviewed|submitted|"
    r"published|wrote|set up)\b"
)
# "pasan al diez de noviembre", "lo pasamos al 10", "se retrasa hasta el lunes", "estará para el seis",
# "los tiene el diez", "moved to Friday".
RESCHEDULED = re.compile(
    r"\b(?:pasa|pasan|pasamos|movemos|se mueve|se mueven|retrasamos|se retrasa|se retrasan|aplazamos|"
    r"se aplaza|se aplazan|queda|quedan)\b(?:\s+\w+){0,6}?\s+(?:al|a|para el|hasta el)\s+(?P<when>.+)$|"
    r"\b(?:estará|estarán|llegará|llegarán|(?:lo|la|los|las)\s+tiene|(?:lo|la|los|las)\s+tienen|"
    r"(?:lo|la|los|las)\s+tendrá|(?:lo|la|los|las)\s+tendrán)\s+(?:para\s+)?(?:el|al|antes del?)\s+"
    r"(?P<when2>.+)$|"
    r"\b(?:moved|pushed(?: back)?|postponed|delayed|rescheduled)\s+(?:un)?to\s+(?P<when3>.+)$|"
    r"\bwill be ready (?:on|by)\s+(?P<when4>.+)$",
    re.IGNORECASE,
)
NEGATION = re.compile(r"\b(?:no|nunca|tampoco|not|never|haven't|hasn't|didn't)\b", re.IGNORECASE)
# "no lo he mandado", "todavía no has hecho", "nunca lo hemos hecho": a negation shortly before the verb.
NEGATED = re.compile(r"\b(?:no|nunca|tampoco|not|never|haven't|hasn't|didn't)\s+(?:\w+\s+){0,3}$", re.I)
CONDITION = re.compile(r"\b(?:si|if)\b", re.IGNORECASE)
# A question about something done, to the person addressed: "Ramón, lo del envío gratis, ¿lo hablasteis?".
ANSWERED_YES = re.compile(r"^(?:sí|si|yes|claro|eso es|exacto)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Mention:
    kind: Kind
    segment_ids: tuple[int, ...]  # the evidence
    text: str
    owner: str | None  # whose commitment, when the words say: the speaker, a named person, the one asked
    terms: frozenset[str]  # stems to match a task on (verbs as their infinitive)
    new_due: date | None = None


def _first_name(speaker: str | None) -> str | None:
    return speaker.split()[0] if speaker and speaker.split() else None


def _addressee(text: str, names: set[str]) -> str | None:
    """The participant a sentence turns to: "Elena, ¿las fotos?", "Y el pilates, Javier, ¿cómo va?"."""
    for name in names:
        if re.search(rf"(?:^|[,.¿]\s*)(?:y\s+)?{re.escape(name)}\s*,", text, re.IGNORECASE):
            return name
    return None


def _negated(sentence: str, position: int) -> bool:
    return NEGATED.search(sentence[:position]) is not None


def _done_by(sentence: str, speaker: str | None) -> tuple[bool, str | None]:
    """Whether the sentence says something is done, and by whom when it says it."""
    tokens = list(_TOKEN.finditer(sentence))
    for index, token in enumerate(tokens):
        word = token.group().lower()
        if not forms_of(word) or _negated(sentence, token.start()):
            continue
        if reading(word, PRETERITE, "1s"):
            return True, speaker
        if reading(word, PRETERITE, "3s"):
            back = index - 1
            while back >= 0 and tokens[back].group().lower() in {*CLITICS, "ya"}:
                back -= 1
            before = sentence[: tokens[back + 1].start()] if back + 1 < len(tokens) else sentence
            named = re.search(r"\b([A-ZÁÉÍÓÚÑ][a-záéíóúñ]+)(?:,[^,]*,)?\s*$", before)
            if named and named.group(1) not in NOT_NAMES:
                return True, named.group(1)
            return True, None
        if (
            reading(word, PRETERITE, "1p")
            and index > 0
            and "ya" in {t.group().lower() for t in tokens[:index]}
        ):
            return True, speaker
    perfect = PERFECT.search(sentence)
    if perfect and not _negated(sentence, perfect.start()):
        verb = perfect.group("verb").lower()
        if reading(verb, PARTICIPLE, "") or re.fullmatch(r"\w+ed", verb):
            aux = perfect.group("aux").lower()
            return True, speaker if aux in {"he", "hemos", "i've", "we've", "i have", "we have"} else None
    english = ENGLISH_PAST.search(sentence)
    if english and not _negated(sentence, english.start("verb")):
        who = english.group("who")
        return True, speaker if who in {"I", "we"} else (None if who in NOT_NAMES else who)
    state = DONE_STATE.search(sentence)
    if state and not _negated(sentence, state.start()):
        return True, None
    return False, None


def _question_before(sentences: Sequence[tuple[int, str | None, str]], index: int) -> tuple[str, str | None]:
    """The turn a sentence may answer (the other speaker's turn just before) and whom it addressed."""
    segment_id, speaker, _ = sentences[index]
    earlier = [s for s in sentences[:index] if s[0] == segment_id - 1 and s[1] != speaker]
    if not earlier:
        return "", None
    names = {name for _, who, _ in sentences if (name := _first_name(who)) and who != earlier[0][1]}
    text = " ".join(s[2] for s in earlier)
    return text, _addressee(text, names)


def _confirms_past_question(answer: str, asked: str) -> bool:
    """ "Ramón, lo del envío gratis, ¿lo hablasteis?" - "Sí.": a past-tense question, confirmed."""
    return bool(
        ANSWERED_YES.match(answer)
        and asked.rstrip().endswith("?")
        and any(reading(token.group().lower(), PRETERITE, ("2s", "2p")) for token in _TOKEN.finditer(asked))
    )


def progress_mentions(segments: list[Segment], reference: date) -> list[Mention]:
    """Every sentence of the meeting that says a commitment is done or moved, in the order said."""
    sentences = sentences_of(segments)
    mentions: list[Mention] = []
    for index, (segment_id, speaker, sentence) in enumerate(sentences):
        text = sentence.strip()
        if not text or text.endswith("?") or CONDITION.search(text):
            continue
        asked, addressee = _question_before(sentences, index)
        # The whole turn answers the turn before it ("Javier, el entorno…" - "Sí… Os mandé el enlace").
        answers = bool(asked)
        # ... and what the speaker said just before in the same turn names what a pronoun stands for:
        # "Siguiente: las creatividades. Alba las mandó el 30."
        lead_in = " ".join(s[2] for s in sentences[max(0, index - 2) : index] if s[0] == segment_id)
        context = f"{asked} {lead_in}".strip()
        moved = RESCHEDULED.search(text)
        if moved:
            when = next(group for group in moved.groups() if group)
            new_due = resolve_due(when, reference)
            if new_due is not None and not NEGATION.search(text[: moved.start()]):
                mentions.append(
                    Mention(
                        MOVED,
                        (segment_id,),
                        text,
                        addressee if answers else None,
                        frozenset(lemma_terms(f"{text} {context}")),
                        new_due,
                    )
                )
                continue
        done, owner = _done_by(text, speaker)
        if not done and addressee and _confirms_past_question(text, asked):
            done, owner = True, addressee
        if not done:
            continue
        if owner is None and answers:
            owner = addressee
        mentions.append(
            Mention(DONE, (segment_id,), text, owner, frozenset(lemma_terms(f"{text} {context}")))
        )
    return mentions


@dataclass(frozen=True)
class Candidate:
    """An earlier commitment a mention may be about."""

    key: object
    owner: str | None
    task: str
    owner_open: int  # how many commitments its owner has open in the project


def same_owner(a: str | None, b: str | None) -> bool:
    """ "Elena" is "Elena Ribalta": one name's words are all in the other's."""
    if not a or not b:
        return False
    left, right = set(a.lower().split()), set(b.lower().split())
    return left <= right or right <= left


def match_mention(mention: Mention, candidates: Sequence[Candidate]) -> Candidate | None:
    """The commitment the mention is about, if one fits: the same owner when the mention says whose,
    and task words in common (two when the owner is not known or the date moves; a done action by a
    known owner may close their only open commitment on the verb alone: "Pilar nos pasó los accesos")."""
    best: tuple[int, float, Candidate] | None = None
    for candidate in candidates:
        if mention.owner and not same_owner(mention.owner, candidate.owner):
            continue
        task_terms = lemma_terms(candidate.task)
        if not task_terms:
            continue
        shared = task_terms & mention.terms
        topical = len({term for term in shared if not term.startswith(VERB_MARK)})
        if mention.kind == MOVED or not mention.owner:
            fits = topical >= 2 or (topical >= 1 and len(shared) >= 2)
        else:
            fits = topical >= 1 or (bool(shared) and candidate.owner_open == 1)
        if not fits:
            continue
        score = (len(shared), len(shared) / len(task_terms), candidate)
        if best is None or score[:2] > best[:2]:
            best = score
    return best[2] if best else None
