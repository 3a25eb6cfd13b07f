"""Meeting summaries as validated structured output: summary, key points, decisions, commitments (owner,
task, due date resolved against the meeting date) and next steps, each linked to transcript segments.

With an LLM provider configured, the `summarize_meeting` prompt asks for JSON that is validated against
`MeetingSummary` (one retry, then a visible failure). Offline, a real fallback: extractive summary and key
points by sentence centrality, and Spanish/English patterns for commitments, decisions, next steps and
dates ("me encargo de…", "para el viernes", "I'll send… by Monday")."""

from __future__ import annotations

import calendar
import json
import re
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from core.errors import ProviderUnavailable
from core.providers.llm import ChatModel, ExtractiveModel, Generation, complete, content_terms
from ingestion.chunkers import format_timestamp
from prompts.loader import Prompt

Segment = dict[str, Any]


class Item(BaseModel):
    text: str = Field(min_length=1)
    segment_ids: list[int] = Field(default_factory=list)


class CommitmentItem(BaseModel):
    owner: str | None = None
    task: str = Field(min_length=1)
    due: date | None = None
    segment_ids: list[int] = Field(default_factory=list)


class MeetingSummary(BaseModel):
    summary: str
    key_points: list[Item] = Field(default_factory=list)
    decisions: list[Item] = Field(default_factory=list)
    commitments: list[CommitmentItem] = Field(default_factory=list)
    next_steps: list[Item] = Field(default_factory=list)


class SummaryFailed(Exception):
    pass


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


# --- sentences -----------------------------------------------------------------------------------

_SPLIT = re.compile(r"(?<=[.!?])\s+")


def sentences_of(segments: list[Segment]) -> list[tuple[int, str | None, str]]:
    """(segment id, speaker, sentence) for every sentence of the transcript."""
    out = []
    for index, segment in enumerate(segments):
        for sentence in _SPLIT.split(str(segment.get("text", "")).strip()):
            if len(sentence.strip()) > 2:
                out.append((index, segment.get("speaker"), sentence.strip()))
    return out


def rank_by_centrality(sentences: list[tuple[int, str | None, str]]) -> list[int]:
    """Indexes of sentences, most central first (sum of term overlap with every other sentence)."""
    terms = [set(content_terms(text)) for _, _, text in sentences]
    scores = []
    for i, mine in enumerate(terms):
        if len(mine) < 3:
            scores.append(0.0)
            continue
        total = sum(len(mine & other) / (len(mine | other) or 1) for j, other in enumerate(terms) if j != i)
        scores.append(total)
    return sorted(range(len(sentences)), key=lambda i: scores[i], reverse=True)


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
DECISION = re.compile(
    r"\b(?:decidimos|acordamos|hemos decidido|queda decidido|se decide|se aprueba|aprobamos|vamos con|"
    r"we decided|we agreed|agreed to|let's go with|the decision is)\b",
    re.IGNORECASE,
)
NEXT_STEP = re.compile(
    r"\b(?:siguiente paso|próximo paso|próximos pasos|el paso siguiente|a continuación|next steps?|"
    r"going forward|vamos a|we will|we'll)\b",
    re.IGNORECASE,
)
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


def extract_commitment(
    segment_id: int, speaker: str | None, sentence: str, reference: date
) -> CommitmentItem | None:
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


def extractive_summary(segments: list[Segment], *, meeting_date: date) -> MeetingSummary:
    sentences = sentences_of(segments)
    if not sentences:
        return MeetingSummary(summary="")
    # Greetings and one-word replies are never summary material.
    ranked = [i for i in rank_by_centrality(sentences) if len(sentences[i][2].split()) >= 4] or [0]
    summary_size = max(1, min(4, len(sentences) // 8 + 1))
    summary_ids = sorted(ranked[:summary_size])
    summary = " ".join(sentences[i][2] for i in summary_ids)
    key_ids = sorted(ranked[summary_size : summary_size + 5])
    key_points = [Item(text=sentences[i][2], segment_ids=[sentences[i][0]]) for i in key_ids]
    decisions, next_steps, commitments = [], [], []
    for segment_id, speaker, sentence in sentences:
        commitment = extract_commitment(segment_id, speaker, sentence, meeting_date)
        if commitment:
            commitments.append(commitment)
        if DECISION.search(sentence):
            decisions.append(Item(text=sentence, segment_ids=[segment_id]))
        elif NEXT_STEP.search(sentence) and not commitment:
            next_steps.append(Item(text=sentence, segment_ids=[segment_id]))
    return MeetingSummary(
        summary=summary,
        key_points=key_points,
        decisions=decisions,
        commitments=commitments,
        next_steps=next_steps,
    )


def done_mentions(segments: list[Segment]) -> list[tuple[int, str | None, str]]:
    """Sentences saying something is done (a later meeting closing an earlier commitment)."""
    return [(sid, speaker, text) for sid, speaker, text in sentences_of(segments) if DONE.search(text)]


def format_transcript(segments: list[Segment], *, limit_chars: int = 60_000) -> str:
    lines = []
    for index, segment in enumerate(segments):
        speaker = f" {segment['speaker']}:" if segment.get("speaker") else ""
        start = format_timestamp(float(segment.get("start", 0)))
        lines.append(f"[{index}] ({start}){speaker} {segment.get('text', '')}")
    return "\n".join(lines)[:limit_chars]


async def summarize(
    segments: list[Segment],
    *,
    model: ChatModel,
    prompt: Prompt,
    meeting_title: str,
    meeting_date: date,
    attempts: int = 2,
) -> MeetingSummary:
    """Structured summary; raises SummaryFailed when the model keeps answering invalid JSON."""
    if isinstance(model, ExtractiveModel):
        return extractive_summary(segments, meeting_date=meeting_date)
    system, user = prompt.render(
        meeting_title=meeting_title,
        meeting_date=meeting_date.isoformat(),
        transcript=format_transcript(segments),
    )
    last_error = "no attempt"
    for _ in range(attempts):
        try:
            text, _ = await complete(
                model,
                Generation(
                    messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                    question=meeting_title,
                    json_mode=True,
                    max_tokens=1500,
                    temperature=0.0,
                ),
            )
            result = MeetingSummary.model_validate(json.loads(text))
        except (ValueError, ValidationError) as exc:
            last_error = f"invalid structured output: {str(exc)[:300]}"
            continue
        except ProviderUnavailable as exc:
            last_error = exc.message
            continue
        valid = set(range(len(segments)))
        for group in (result.key_points, result.decisions, result.next_steps, result.commitments):
            for item in group:
                item.segment_ids = [i for i in item.segment_ids if i in valid]
        return result
    raise SummaryFailed(last_error)
