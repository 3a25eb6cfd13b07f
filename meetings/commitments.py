"""Commitments heard in a meeting: who will do what, by when, and which segments say so.

`CommitmentExtractor` is the task; `PatternCommitmentExtractor` is the offline implementation (Spanish and
English patterns: "me encargo de…", "Ana enviará…", "I'll send… by Monday", with due dates resolved
against the meeting date); `LLMCommitmentExtractor` asks a chat model for validated JSON. Also here: the
offline detection of sentences saying a commitment is done ("ya envié…"), which closes it in the ledger.
"""

from __future__ import annotations

import calendar
import re
from datetime import date, timedelta
from typing import Protocol

from core.providers.llm import ChatModel, complete_structured
from meetings.schemas import CommitmentItem, CommitmentList, MeetingTranscript, Segment, sentences_of
from prompts.loader import Prompt


class CommitmentExtractor(Protocol):
    provider: str
    model: str

    async def extract(self, transcript: MeetingTranscript) -> list[CommitmentItem]: ...


# --- dates ---------------------------------------------------------------------------------------

# --- dates ---------------------------------------------------------------------------------------

WEEKDAYS = {
    "lunes": 0,
    "martes": 1,
    "miércoles": 2,
    "miercoles": 2,
    "jueves": 3,
    "viernes": 4,
    "sábado": 5,
    "sabado": 5,
    "domingo": 6,
    "monday": 0,
    "tuesday": 1,
    "wednesday": 2,
    "thursday": 3,
    "friday": 4,
    "saturday": 5,
    "sunday": 6,
}
MONTHS = {
    "enero": 1,
    "febrero": 2,
    "marzo": 3,
    "abril": 4,
    "mayo": 5,
    "junio": 6,
    "julio": 7,
    "agosto": 8,
    "septiembre": 9,
    "setiembre": 9,
    "octubre": 10,
    "noviembre": 11,
    "diciembre": 12,
    "january": 1,
    "february": 2,
    "march": 3,
    "april": 4,
    "may": 5,
    "june": 6,
    "july": 7,
    "august": 8,
    "september": 9,
    "october": 10,
    "november": 11,
    "december": 12,
}
_WEEKDAY = "|".join(sorted(WEEKDAYS, key=len, reverse=True))
_MONTH = "|".join(sorted(MONTHS, key=len, reverse=True))
DATE_PATTERNS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\bpasado mañana\b|\bday after tomorrow\b", re.I), "plus2"),
    # "por la mañana", "esta mañana" are mornings, not tomorrow.
    (re.compile(r"(?<!la )(?<!esta )\bmañana\b|\btomorrow\b", re.I), "plus1"),
    (re.compile(r"\bhoy\b|\btoday\b|\btonight\b", re.I), "plus0"),
    (re.compile(r"\b(?:la semana que viene|la próxima semana|next week)\b", re.I), "plus7"),
    (re.compile(r"\b(?:en dos semanas|in two weeks)\b", re.I), "plus14"),
    (re.compile(r"\b(?:fin de mes|final de mes|end of (?:the )?month)\b", re.I), "month_end"),
    (re.compile(rf"\b(\d{{1,2}})\s+de\s+({_MONTH})\b", re.I), "day_month"),
    (re.compile(rf"\b({_MONTH})\s+(\d{{1,2}})(?:st|nd|rd|th)?\b", re.I), "month_day"),
    (re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?({_MONTH})\b", re.I), "day_month"),
    (re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2,4}))?\b"), "numeric"),
    (re.compile(rf"\b({_WEEKDAY})\b", re.I), "weekday"),
]


def _future(candidate: date, reference: date) -> date:
    return candidate if candidate >= reference else candidate.replace(year=candidate.year + 1)


def resolve_due(text: str, reference: date) -> date | None:
    """The first date expression in `text`, resolved against the meeting date."""
    for pattern, kind in DATE_PATTERNS:
        match = pattern.search(text)
        if not match:
            continue
        try:
            if kind.startswith("plus"):
                return reference + timedelta(days=int(kind[4:]))
            if kind == "month_end":
                return reference.replace(day=calendar.monthrange(reference.year, reference.month)[1])
            if kind == "weekday":
                ahead = (WEEKDAYS[match.group(1).lower()] - reference.weekday()) % 7 or 7
                return reference + timedelta(days=ahead)
            if kind == "day_month":
                return _future(
                    date(reference.year, MONTHS[match.group(2).lower()], int(match.group(1))), reference
                )
            if kind == "month_day":
                return _future(
                    date(reference.year, MONTHS[match.group(1).lower()], int(match.group(2))), reference
                )
            if kind == "numeric":
                year = int(match.group(3)) if match.group(3) else reference.year
                year = year + 2000 if year < 100 else year
                candidate = date(year, int(match.group(2)), int(match.group(1)))
                return candidate if match.group(3) else _future(candidate, reference)
        except ValueError:
            continue
    return None


# --- patterns ------------------------------------------------------------------------------------


FIRST_PERSON = re.compile(
    r"\b(?:yo\s+)?(?:me encargo de|me comprometo a|me ocupo de|quedo en|voy a|"
    r"(?:te|le|les|os)\s+(?P<handover>envío|mando|paso)|lo tendré listo|"
    r"I(?:'ll| will| am going to|'m going to| can take care of)|let me)\s+(?P<task>.+)",
    re.IGNORECASE,
)
# "te mando el acta": the task is "mandar el acta".
HANDOVER_INFINITIVES = {"envío": "enviar", "mando": "mandar", "paso": "pasar"}
FIRST_PERSON_FUTURE = re.compile(
    r"\b(?P<verb>enviaré|mandaré|prepararé|revisaré|haré|terminaré|llamaré|escribiré|subiré|actualizaré|"
    r"organizaré|confirmaré)\b(?P<task>.*)",
    re.IGNORECASE,
)
NAMED_OWNER = re.compile(
    r"\b(?P<owner>[A-ZÁÉÍÓÚÑ][a-záéíóúñ]+)\s+(?:(?:se encarga de|se compromete a|se ocupa de|va a|will|"
    r"is going to)\s+(?P<task>.+)|(?P<verb>enviará|preparará|revisará|llamará|hará)\s+(?P<object>.+))"
)
# Capitalised words that can stand where a name does ("Todo va a salir bien", "There will be a demo").
NOT_NAMES = {
    "Yo",
    "Eso",
    "Esto",
    "Ella",
    "Él",
    "Nadie",
    "Todo",
    "Todos",
    "Nada",
    "Alguien",
    "Algo",
    "Cada",
    "Mañana",
    "Hoy",
    "Luego",
    "Después",
    "Entonces",
    "Aquí",
    "We",
    "They",
    "It",
    "That",
    "This",
    "You",
    "He",
    "She",
    "There",
    "Everyone",
    "Everybody",
    "Someone",
    "Somebody",
    "Nobody",
    "What",
    "Who",
    "Which",
    "Tomorrow",
    "Today",
    "Then",
}
DONE = re.compile(
    r"\b(?:ya (?:envié|mandé|terminé|hice|está|lo)|he (?:enviado|terminado|hecho|mandado)|"
    r"está (?:hecho|listo|terminado)|I (?:sent|finished|did|completed)|(?:it's|is) done|"
    r"already (?:sent|done))\b",
    re.IGNORECASE,
)

_TRAILING_DATE = re.compile(
    rf"\s+(?:para|antes del?|hasta el|el|by|on|before|until)\s+(?:el\s+)?(?:{_WEEKDAY}|mañana|tomorrow|"
    rf"hoy|today|\d{{1,2}}(?:/\d{{1,2}})?|{_MONTH}|la semana que viene|la próxima semana|next week|"
    rf"fin de mes)\b.*$",
    re.IGNORECASE,
)
# A date that ends the sentence needs no preposition: "actualizar el roadmap mañana", "...next week".
_BARE_TRAILING_DATE = re.compile(
    rf"\s+(?:(?:a|al)\s+)?(?:pasado mañana|mañana|tomorrow|hoy|today|tonight|"
    rf"(?:este|this|next)\s+(?:{_WEEKDAY})|la semana que viene|la próxima semana|next week|en dos semanas|"
    rf"in two weeks|"
    rf"(?:el\s+)?(?:fin|final) de mes|(?:the\s+)?end of (?:the\s+)?month|\d{{1,2}}/\d{{1,2}}(?:/\d{{2,4}})?)"
    rf"[\s.,;:!]*$",
    re.IGNORECASE,
)


def _clean_task(task: str) -> str:
    task = _BARE_TRAILING_DATE.sub("", _TRAILING_DATE.sub("", task.strip()))
    return task.strip(" .,;:") or task.strip()


def commitment_in(
    segment_id: int, speaker: str | None, sentence: str, reference: date
) -> CommitmentItem | None:
    """The commitment one sentence states, if any: "me encargo de…" (the speaker), "Ana enviará…"."""
    if sentence.rstrip().endswith("?"):
        return None
    owner: str | None = None
    task: str | None = None
    named = NAMED_OWNER.search(sentence)
    if named and named.group("owner") not in NOT_NAMES:
        owner = named.group("owner")
        task = named.group("task") or f"{named.group('verb')} {named.group('object')}"
    else:
        match = FIRST_PERSON.search(sentence)
        if match:
            owner, task = speaker, match.group("task")
            if match.group("handover"):
                task = f"{HANDOVER_INFINITIVES[match.group('handover').lower()]} {task}"
        else:
            future = FIRST_PERSON_FUTURE.search(sentence)
            if future:
                owner, task = speaker, future.group("verb") + future.group("task")
    if not task or len(task.split()) < 2:
        return None
    return CommitmentItem(
        owner=owner, task=_clean_task(task), due=resolve_due(sentence, reference), segment_ids=[segment_id]
    )


class PatternCommitmentExtractor:
    """Offline: every sentence that matches a commitment pattern, with its speaker as owner when it is
    said in the first person."""

    provider = "extractive"
    model = "patterns-v1"

    async def extract(self, transcript: MeetingTranscript) -> list[CommitmentItem]:
        found = []
        for segment_id, speaker, sentence in sentences_of(transcript.segments):
            commitment = commitment_in(segment_id, speaker, sentence, transcript.date)
            if commitment:
                found.append(commitment)
        return found


def done_mentions(segments: list[Segment]) -> list[tuple[int, str | None, str]]:
    """Sentences saying something is done (a later meeting closing an earlier commitment)."""
    return [(sid, speaker, text) for sid, speaker, text in sentences_of(segments) if DONE.search(text)]


class LLMCommitmentExtractor:
    """A chat model asked for the commitments alone (`extract_commitments` prompt), as validated JSON."""

    def __init__(self, model: ChatModel, prompt: Prompt) -> None:
        self.chat = model
        self.prompt = prompt
        self.provider = model.provider
        self.model = model.model

    async def extract(self, transcript: MeetingTranscript) -> list[CommitmentItem]:
        result = await complete_structured(
            self.chat,
            self.prompt.render(**transcript.prompt_values()),
            CommitmentList,
            question=transcript.title,
            max_tokens=1000,
        )
        transcript.keep_known_segments(result.commitments)
        return result.commitments
