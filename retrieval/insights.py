"""Project insights: health from the CRUD numbers, plus commitments, decisions, risks and next steps drawn
from the project's meetings and documents, every item with the chunks it came from."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Protocol

from core import i18n
from core.i18n import DEFAULT_LANGUAGE, Language, percent
from core.models import SourceType
from core.providers.llm import ChatModel, Generation, complete
from core.text import split_sentences
from prompts.loader import Prompt
from retrieval.answer import Source, citation_payload, format_context
from retrieval.retriever import HybridRetriever
from retrieval.search import Hit, SearchFilters

RISK_QUERY = "riesgo retraso bloqueo problema preocupación dependencia risk delay blocker issue concern"
RISK_WORDS = re.compile(
    r"\b(riesgo|retras|bloque|problema|preocup|depend|peligr|urgente|risk|delay|block|issue|concern)\w*",
    re.IGNORECASE,
)
MAX_ITEMS = 8
# Key-point chunks of a section, by the label the indexer gave them (ingestion/artifacts.py).
KINDS = {
    "decisions": i18n.index_text("index.label.decision"),
    "next_steps": i18n.index_text("index.label.next_step"),
}
Sections = dict[str, list[Source]]  # evidence per section, numbered across sections
Items = dict[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class Health:
    status: str  # on_track, at_risk, off_track, unknown
    reasons: list[str]


def assess_health(stats: dict[str, Any], language: Language = DEFAULT_LANGUAGE) -> Health:
    """A plain reading of the numbers: schedule variance, budget and hours burn against progress,
    deadline slack; the reasons in `language`."""
    reasons: list[str] = []
    score = 0
    progress = stats["progress"] / 100
    done = percent(progress, language)
    variance = stats.get("schedule_variance")
    if variance is not None and variance < -0.1:
        score += 2 if variance < -0.25 else 1
        reasons.append(i18n.text("health.behind_schedule", language, behind=percent(abs(variance), language)))
    for key, what in (("budget_burn", "budget"), ("hours_burn", "hours")):
        burn = stats.get(key)
        if burn is None:
            continue
        if burn > 1:
            score += 2
            reasons.append(i18n.text(f"health.{what}_spent", language, burn=percent(burn, language)))
        elif burn - progress > 0.2:
            score += 1
            reasons.append(
                i18n.text(f"health.{what}_ahead", language, burn=percent(burn, language), progress=done)
            )
    days = stats.get("days_to_deadline")
    if days is not None and progress < 1:
        if days < 0:
            score += 2
            reasons.append(i18n.plural("health.deadline_passed", -days, language, days=-days))
        elif days <= 7 and progress < 0.8:
            score += 1
            reasons.append(i18n.plural("health.deadline_near", days, language, days=days, progress=done))
    known = any(
        stats.get(k) is not None
        for k in ("schedule_variance", "budget_burn", "hours_burn", "days_to_deadline")
    )
    if not known:
        return Health("unknown", [i18n.text("health.unknown", language)])
    status = "off_track" if score >= 3 else "at_risk" if score >= 1 else "on_track"
    return Health(status, reasons or [i18n.text("health.in_line", language)])


def _item(source: Source, text: str | None = None) -> dict[str, Any]:
    body = text or re.sub(r"^\[[^\]]*\]\n", "", source.hit.content).strip()
    return {"text": body, "citations": [citation_payload(source)]}


async def _hits(retriever: HybridRetriever, query: str, source_types: tuple[SourceType, ...]) -> list[Hit]:
    retriever.filters = SearchFilters(source_types=source_types)
    return await retriever.search(query, limit=MAX_ITEMS)


def _numbered(hits: list[Hit], start: int) -> list[Source]:
    return [Source(start + i, hit) for i, hit in enumerate(hits)]


async def gather_sources(retriever: HybridRetriever) -> dict[str, list[Source]]:
    """Retrieved evidence per section, numbered across sections so citations stay unique."""
    sections: dict[str, list[Source]] = {}
    plan = (
        (
            "commitments",
            "compromiso tarea responsable fecha entrega commitment task owner due",
            (SourceType.COMMITMENTS,),
        ),
        ("decisions", "decisión acordamos decidimos aprobado decision agreed", (SourceType.KEY_POINTS,)),
        ("next_steps", "próximos pasos siguiente paso next steps", (SourceType.KEY_POINTS,)),
        (
            "risks",
            RISK_QUERY,
            (SourceType.TRANSCRIPT, SourceType.DOCUMENT, SourceType.KEY_POINTS, SourceType.SUMMARY),
        ),
    )
    number = 1
    for name, query, types in plan:
        hits = await _hits(retriever, query, types)
        if name in KINDS:
            hits = [h for h in hits if h.meta.get("kind") == KINDS[name]]
        sections[name] = _numbered(hits, number)
        number += len(hits)
    return sections


def extractive_items(sections: Sections) -> Items:
    items: dict[str, list[dict[str, Any]]] = {}
    for name, sources in sections.items():
        if name != "risks":
            items[name] = [_item(source) for source in sources]
            continue
        # The same sentence in several sources (a document's repeated paragraph, a summary quoting the
        # transcript) is one risk citing them all, not one line per source.
        risks: dict[str, dict[str, Any]] = {}
        for source in sources:
            for sentence in split_sentences(source.hit.content):
                if RISK_WORDS.search(sentence):
                    if sentence in risks:
                        risks[sentence]["citations"].append(citation_payload(source))
                    else:
                        risks[sentence] = _item(source, sentence)
                    break
        items[name] = list(risks.values())[:MAX_ITEMS]
    return items


class InsightWriter(Protocol):
    """Turns the evidence gathered per section into the insight items, each citing its sources."""

    provider: str
    model: str

    async def write(
        self, sections: Sections, *, project_title: str, health: Health, context_tokens: int
    ) -> Items: ...


class ExtractiveInsightWriter:
    """Offline: each retrieved ledger or key-point chunk is an item; a risk is the first sentence of a
    chunk that names one."""

    provider = "extractive"
    model = "extractive-v1"

    async def write(
        self, sections: Sections, *, project_title: str, health: Health, context_tokens: int
    ) -> Items:
        return extractive_items(sections)


class LLMInsightWriter:
    """The `insights` prompt, answered as JSON; the extractive items when the model answers badly."""

    def __init__(self, model: ChatModel, prompt: Prompt) -> None:
        self.chat = model
        self.prompt = prompt
        self.provider = model.provider
        self.model = model.model

    async def write(
        self, sections: Sections, *, project_title: str, health: Health, context_tokens: int
    ) -> Items:
        if not any(sections.values()):
            return extractive_items(sections)
        return await llm_items(
            self.chat,
            self.prompt,
            project_title=project_title,
            health=f"{health.status}: {'; '.join(health.reasons)}",
            sections=sections,
            context_tokens=context_tokens,
        )


async def llm_items(
    model: ChatModel,
    prompt: Prompt,
    *,
    project_title: str,
    health: str,
    sections: Sections,
    context_tokens: int,
) -> Items:
    """Ask the model for the four lists as JSON; fall back to the extractive items if it answers badly."""
    sources = [source for group in sections.values() for source in group]
    system, user = prompt.render(
        project_title=project_title,
        health=health,
        context=format_context(sources, token_budget=context_tokens),
    )
    text, _ = await complete(
        model,
        Generation(
            messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
            question="insights",
            json_mode=True,
            max_tokens=900,
        ),
    )
    try:
        data = json.loads(text)
    except ValueError:
        return extractive_items(sections)
    by_number = {source.n: source for source in sources}
    items: dict[str, list[dict[str, Any]]] = {}
    for name in ("commitments", "decisions", "risks", "next_steps"):
        entries = data.get(name) if isinstance(data, dict) else None
        items[name] = []
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict) or not str(entry.get("text", "")).strip():
                continue
            cited = [
                by_number[n] for n in entry.get("citations", []) if isinstance(n, int) and n in by_number
            ]
            items[name].append(
                {"text": str(entry["text"]).strip(), "citations": [citation_payload(s) for s in cited]}
            )
    return items
