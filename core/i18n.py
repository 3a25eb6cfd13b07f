"""The words the server writes for people: one table per language (Spanish by default, English available).

Answers follow the question's language, insights and suggestions the caller's (`lang` or Accept-Language),
and indexed text is always written in INDEX_LANGUAGE: it is what is embedded, searched and quoted, so it
must read the same whoever triggered the indexing. The console keeps its own table (in its app.js);
tests/console/test_languages.py holds both to one language per screen."""

from __future__ import annotations

import enum
import re
from typing import Any, Final, Literal

Language = Literal["es", "en"]
LANGUAGES: Final[tuple[Language, ...]] = ("es", "en")
DEFAULT_LANGUAGE: Final[Language] = "es"
INDEX_LANGUAGE: Final[Language] = "es"

ES: Final[dict[str, str]] = {
    # answers (retrieval/pipeline.py)
    "answer.no_answer": (
        "No encuentro información sobre eso en los documentos, reuniones ni conversaciones del proyecto."
    ),
    "answer.index_pending.one": (
        "Nota: {n} cambio de este proyecto aún no está en el índice; puede que la respuesta no lo vea."
    ),
    "answer.index_pending.many": (
        "Nota: {n} cambios de este proyecto aún no están en el índice; puede que la respuesta no los vea."
    ),
    # project health (retrieval/insights.py)
    "health.behind_schedule": "El progreso va {behind} por detrás del tiempo transcurrido",
    "health.budget_spent": "Se ha gastado el {burn} del presupuesto",
    "health.budget_ahead": "Se ha gastado el {burn} del presupuesto con un {progress} de progreso",
    "health.hours_spent": "Se ha usado el {burn} de las horas estimadas",
    "health.hours_ahead": "Se ha usado el {burn} de las horas estimadas con un {progress} de progreso",
    "health.deadline_passed.one": "La fecha límite pasó hace {days} día",
    "health.deadline_passed.many": "La fecha límite pasó hace {days} días",
    "health.deadline_near.one": "Falta {days} día para la fecha límite con un {progress} de progreso",
    "health.deadline_near.many": "Faltan {days} días para la fecha límite con un {progress} de progreso",
    "health.in_line": "Progreso, tiempo y presupuesto van a la par",
    "health.unknown": "Aún no hay fechas, presupuesto ni horas estimadas con que valorarlo",
    # suggested questions (api/services/insights.py)
    "suggest.project": "¿En qué estado está el proyecto y cuál es su alcance?",
    "suggest.commitments": "¿Qué compromisos hay pendientes y quién los tiene?",
    "suggest.decisions": "¿Qué decisiones se tomaron en las reuniones?",
    "suggest.meeting": "¿Qué se habló en la reunión «{title}»?",
    "suggest.document": "¿Qué dice el documento «{title}»?",
    # enum values as words (indexed text)
    "project_status.planned": "planificado",
    "project_status.in-progress": "en curso",
    "project_status.completed": "completado",
    "project_status.on-hold": "en pausa",
    "project_status.cancelled": "cancelado",
    "priority.low": "baja",
    "priority.medium": "media",
    "priority.high": "alta",
    "priority.urgent": "urgente",
    "meeting_status.scheduled": "programada",
    "meeting_status.in-progress": "en curso",
    "meeting_status.completed": "terminada",
    "meeting_status.cancelled": "cancelada",
    "commitment_status.open": "pendiente",
    "commitment_status.done": "cumplido",
    "commitment_status.dropped": "descartado",
    # indexed text (ingestion/artifacts.py, ingestion/chunkers.py)
    "index.project_facts": "Estado: {status}. Progreso: {progress}. Prioridad: {priority}.",
    "index.meeting_facts": "Reunión «{title}». Estado: {status}.",
    "index.start": "Inicio: {date}.",
    "index.end": "Fin: {date}.",
    "index.deadline": "Fecha límite: {date}.",
    "index.item_due": "fecha: {date}",
    "index.item_status": "estado: {status}",
    "index.label.project": "Proyecto",
    "index.label.document": "Documento",
    "index.label.meeting": "Reunión",
    "index.label.summary": "Resumen",
    "index.label.transcript": "Transcripción",
    "index.label.key_point": "Punto clave",
    "index.label.decision": "Decisión",
    "index.label.next_step": "Próximo paso",
    "index.label.commitment": "Compromiso",
}

EN: Final[dict[str, str]] = {
    "answer.no_answer": (
        "I can't find anything about that in the project's documents, meetings or conversations."
    ),
    "answer.index_pending.one": (
        "Note: {n} change to this project is not in the index yet; this answer may not reflect it."
    ),
    "answer.index_pending.many": (
        "Note: {n} changes to this project are not in the index yet; this answer may not reflect them."
    ),
    "health.behind_schedule": "Progress is {behind} behind the time elapsed",
    "health.budget_spent": "{burn} of the budget is spent",
    "health.budget_ahead": "{burn} of the budget is spent at {progress} progress",
    "health.hours_spent": "{burn} of the estimated hours are used",
    "health.hours_ahead": "{burn} of the estimated hours are used at {progress} progress",
    "health.deadline_passed.one": "The deadline passed {days} day ago",
    "health.deadline_passed.many": "The deadline passed {days} days ago",
    "health.deadline_near.one": "{days} day to the deadline at {progress} progress",
    "health.deadline_near.many": "{days} days to the deadline at {progress} progress",
    "health.in_line": "Progress, time and budget are in line",
    "health.unknown": "No dates, budget or estimated hours to judge by yet",
    "suggest.project": "What is the status of the project and what is its scope?",
    "suggest.commitments": "Which commitments are open and who has them?",
    "suggest.decisions": "What was decided in the meetings?",
    "suggest.meeting": "What was discussed in the meeting “{title}”?",
    "suggest.document": "What does the document “{title}” say?",
    "project_status.planned": "planned",
    "project_status.in-progress": "in progress",
    "project_status.completed": "completed",
    "project_status.on-hold": "on hold",
    "project_status.cancelled": "cancelled",
    "priority.low": "low",
    "priority.medium": "medium",
    "priority.high": "high",
    "priority.urgent": "urgent",
    "meeting_status.scheduled": "scheduled",
    "meeting_status.in-progress": "in progress",
    "meeting_status.completed": "finished",
    "meeting_status.cancelled": "cancelled",
    "commitment_status.open": "open",
    "commitment_status.done": "done",
    "commitment_status.dropped": "dropped",
    "index.project_facts": "Status: {status}. Progress: {progress}. Priority: {priority}.",
    "index.meeting_facts": "Meeting “{title}”. Status: {status}.",
    "index.start": "Start: {date}.",
    "index.end": "End: {date}.",
    "index.deadline": "Deadline: {date}.",
    "index.item_due": "due: {date}",
    "index.item_status": "status: {status}",
    "index.label.project": "Project",
    "index.label.document": "Document",
    "index.label.meeting": "Meeting",
    "index.label.summary": "Summary",
    "index.label.transcript": "Transcript",
    "index.label.key_point": "Key point",
    "index.label.decision": "Decision",
    "index.label.next_step": "Next step",
    "index.label.commitment": "Commitment",
}

TABLES: Final[dict[Language, dict[str, str]]] = {"es": ES, "en": EN}

# Which enum a word belongs to, by the enum's class name (core/models.py).
ENUM_KEYS: Final[dict[str, str]] = {
    "ProjectStatus": "project_status",
    "Priority": "priority",
    "MeetingStatus": "meeting_status",
    "CommitmentStatus": "commitment_status",
}


def text(key: str, language: Language = DEFAULT_LANGUAGE, /, **values: Any) -> str:
    """The string `key` in `language`, its {placeholders} filled in. An unknown key is a KeyError: a typo
    must fail in tests, not print a key to a user."""
    return TABLES[language][key].format(**values)


def plural(key: str, count: int, language: Language = DEFAULT_LANGUAGE, /, **values: Any) -> str:
    """`key.one` for a count of 1, `key.many` otherwise (both languages here pluralise alike)."""
    return text(f"{key}.{'one' if count == 1 else 'many'}", language, **values)


def index_text(key: str, /, **values: Any) -> str:
    """A string of the indexed text (always INDEX_LANGUAGE)."""
    return text(key, INDEX_LANGUAGE, **values)


def enum_word(member: enum.Enum, language: Language = DEFAULT_LANGUAGE) -> str:
    """An enum value as a word of `language` (`ProjectStatus.PLANNED` -> "planificado")."""
    return text(f"{ENUM_KEYS[type(member).__name__]}.{member.value}", language)


def percent(value: float, language: Language = DEFAULT_LANGUAGE) -> str:
    """A ratio as a percentage the way the language writes it: "45 %" (a no-break space) or "45%"."""
    number = f"{value * 100:.0f}"
    return f"{number}\u00a0%" if language == "es" else f"{number}%"


_LANGUAGE_RANGE = re.compile(r"^\s*([A-Za-z]{1,8}|\*)(?:-[A-Za-z0-9]{1,8})*\s*(?:;\s*q\s*=\s*([0-9.]+))?\s*$")


def negotiate(accept_language: str | None) -> Language:
    """The supported language the Accept-Language header prefers most (RFC 9110 §12.5.4); the default
    when it names none of them or cannot be read."""
    best: tuple[float, int, Language] | None = None
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        match = _LANGUAGE_RANGE.match(part)
        if not match:
            continue
        try:
            quality = float(match.group(2)) if match.group(2) is not None else 1.0
        except ValueError:
            continue
        tag = match.group(1).lower()
        language = DEFAULT_LANGUAGE if tag == "*" else next((lang for lang in LANGUAGES if lang == tag), None)
        if quality <= 0 or language is None:
            continue
        if best is None or (quality, -position) > best[:2]:
            best = (quality, -position, language)
    return best[2] if best else DEFAULT_LANGUAGE
