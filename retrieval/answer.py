"""Grounded answers: choose the relevant retrieved chunks, number them, prompt, generate, and map the [n]
markers of the answer back to the chunks they cite (dropping any marker that cites nothing)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from core.providers.llm import ChatModel, ContextPassage, Generation, Usage, content_terms
from core.settings import RetrievalSettings
from core.tokens import count_tokens, truncate_tokens
from prompts.loader import Prompt, fence_safe
from retrieval.retriever import HybridRetriever
from retrieval.search import Hit, min_similarity

# Any bracketed number reads as a citation to a user, so any is checked (a huge one cites nothing).
CITATION = re.compile(r"\[(\d+)\]")
OPEN_CITATION = re.compile(r"\[[\[\d]*$")  # a tail that may still become a marker: "[", "[1", "[[2"
MAX_CITATION_DIGITS = 4
# A full-text match counts as relevant when it covers most of the question's content words (ts_rank's
# scale depends on document length, so its value alone is no threshold).
MIN_TERM_COVERAGE = 0.6
NO_ANSWER = {
    "es": "No encuentro información sobre eso en los documentos, reuniones ni conversaciones del proyecto.",
    "en": "I can't find anything about that in the project's documents, meetings or conversations.",
}
# Where in a document a chunk is (set by the prose chunker): shown as "p. 4" or "Presupuesto › Pagos".
DOCUMENT_PLACES = ("section", "page", "page_end", "slide")
# One sentence after an answer while the project has changes the index does not reflect yet.
INDEX_PENDING = {
    "es": (
        "Nota: {n} cambio de este proyecto aún no está en el índice; puede que la respuesta no lo vea.",
        "Nota: {n} cambios de este proyecto aún no están en el índice; puede que la respuesta no los vea.",
    ),
    "en": (
        "Note: {n} change to this project is not in the index yet; this answer may not reflect it.",
        "Note: {n} changes to this project are not in the index yet; this answer may not reflect them.",
    ),
}
_ENGLISH = re.compile(r"\b(what|who|when|where|which|how|why|is|are|does|did|the|of)\b", re.IGNORECASE)


def answer_language(question: str) -> str:
    return "en" if len(_ENGLISH.findall(question)) >= 2 else "es"


def index_pending_note(pending: int, language: str) -> str:
    """The sentence (with its paragraph break) that says the answer may miss unindexed changes; "" when
    the index is complete."""
    if pending <= 0:
        return ""
    singular, plural = INDEX_PENDING[language]
    return "\n\n" + (singular if pending == 1 else plural).format(n=pending)


def term_coverage(question: str, text: str) -> float:
    """Share of the question's content words (crudely stemmed) that occur in `text`."""
    wanted = set(content_terms(question))
    if not wanted:
        return 0.0
    return len(wanted & set(content_terms(text))) / len(wanted)


def relevant_hits(hits: list[Hit], *, min_similarity: float, question: str = "") -> list[Hit]:
    """Chunks that say something about the question: close in meaning, or a full-text match that
    covers most of the question's words."""
    return [
        hit
        for hit in hits
        if (hit.similarity is not None and hit.similarity >= min_similarity)
        or (hit.text_rank is not None and term_coverage(question, hit.content) >= MIN_TERM_COVERAGE)
    ]


@dataclass(frozen=True)
class Source:
    n: int
    hit: Hit


def _tokens(hit: Hit) -> int:
    return hit.token_count if hit.token_count is not None else count_tokens(hit.content)


def number_sources(hits: list[Hit], *, token_budget: int) -> list[Source]:
    """Number the chunks [1..n] in rank order until the context budget is spent."""
    sources: list[Source] = []
    used = 0
    for hit in hits:
        cost = _tokens(hit) + 8
        if sources and used + cost > token_budget:
            break
        used += cost
        sources.append(Source(len(sources) + 1, hit))
    return sources


def format_context(sources: list[Source], *, token_budget: int) -> str:
    """Numbered passages, each fenced as data."""
    per_source = max(token_budget // max(len(sources), 1), 64)
    blocks = []
    for source in sources:
        content = source.hit.content
        text = fence_safe(
            content if _tokens(source.hit) <= per_source else truncate_tokens(content, per_source)
        )
        blocks.append(f'<source n="{source.n}" type="{source.hit.source_type.value}">\n{text}\n</source>')
    return "\n".join(blocks)


def build_generation(
    prompt: Prompt,
    *,
    question: str,
    sources: list[Source],
    token_budget: int,
    extra: dict[str, str] | None = None,
) -> Generation:
    values = {
        "question": question,
        "context": format_context(sources, token_budget=token_budget),
        **(extra or {}),
    }
    system, user = prompt.render(**values)
    return Generation(
        messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
        question=question,
        passages=[ContextPassage(source.n, source.hit.content, source.hit.token_count) for source in sources],
    )


def _number(match: re.Match[str]) -> int:
    digits = match.group(1)
    return int(digits) if len(digits) <= MAX_CITATION_DIGITS else -1


def cited_numbers(answer: str) -> list[int]:
    seen: list[int] = []
    for match in CITATION.finditer(answer):
        n = _number(match)
        if n not in seen:
            seen.append(n)
    return seen


def strip_unknown_citations(answer: str, known: set[int]) -> str:
    """Remove markers that cite nothing, until none is left ("[[9]7]" without 9 would leave "[7]")."""
    while True:
        stripped = CITATION.sub(lambda m: m.group(0) if _number(m) in known else "", answer)
        if stripped == answer:
            return stripped
        answer = stripped


def citation_payload(source: Source) -> dict[str, Any]:
    hit = source.hit
    payload: dict[str, Any] = {
        "n": source.n,
        "chunk_id": hit.chunk_id,
        "project_id": str(hit.project_id),
        "source_type": hit.source_type.value,
        "source_id": str(hit.source_id),
        "title": hit.title,
        "snippet": hit.snippet,
    }
    if hit.meeting_id:
        payload["meeting_id"] = hit.meeting_id
    for key in ("start", "end"):
        if key in hit.meta:
            payload[key] = hit.meta[key]
    if hit.meta.get("speakers"):
        payload["speakers"] = hit.meta["speakers"]
    for key in DOCUMENT_PLACES:
        if hit.meta.get(key) is not None:
            payload[key] = hit.meta[key]
    return payload


def citations_for(answer: str, sources: list[Source]) -> list[dict[str, Any]]:
    by_number = {source.n: source for source in sources}
    return [citation_payload(by_number[n]) for n in cited_numbers(answer) if n in by_number]


@dataclass
class Answer:
    text: str
    citations: list[dict[str, Any]]
    usage: Usage
    grounded: bool


async def stream_answer(
    model: ChatModel, generation: Generation, usage: Usage, *, known: set[int]
) -> AsyncIterator[str]:
    """The model's text as it streams, with citation markers to unknown sources removed on the fly."""
    pending = ""
    async for delta in model.stream(generation, usage):
        # Hold back a tail that may still become a marker until it closes or turns into text; what is
        # sent never ends inside one, so no marker can span what was sent and what comes next.
        pending = strip_unknown_citations(pending + delta, known)
        opening = OPEN_CITATION.search(pending)
        cut = opening.start() if opening else len(pending)
        ready, pending = pending[:cut], pending[cut:]
        if ready:
            yield ready
    if pending:
        yield pending


async def answer_from_sources(
    model: ChatModel, generation: Generation, sources: list[Source], *, language: str
) -> Answer:
    usage = Usage()
    known = {source.n for source in sources}
    text = "".join([delta async for delta in stream_answer(model, generation, usage, known=known)]).strip()
    if not text:
        return Answer(NO_ANSWER[language], [], usage, grounded=False)
    return Answer(text, citations_for(text, sources), usage, grounded=True)


@dataclass
class GroundedAnswer:
    """What /ask answers: the numbered sources it was given and the answer, or none when nothing
    relevant was found (then the plain "I don't know" of the question's language)."""

    language: str
    sources: list[Source]
    answer: Answer | None

    @property
    def text(self) -> str:
        return self.answer.text if self.answer else NO_ANSWER[self.language]


async def answer_question(
    retriever: HybridRetriever,
    model: ChatModel,
    prompt: Prompt,
    *,
    question: str,
    config: RetrievalSettings,
    extra: dict[str, str] | None = None,
) -> GroundedAnswer:
    """Retrieve, keep the relevant chunks, number them within the context budget, prompt and answer.
    The API's /ask and the evals' answer runs both call this, so an eval measures what users get."""
    hits = await retriever.search(question, limit=config.answer_chunks)
    threshold = min_similarity(retriever.model.name, config)
    relevant = relevant_hits(hits, min_similarity=threshold, question=question)
    language = answer_language(question)
    if not relevant:
        return GroundedAnswer(language, [], None)
    sources = number_sources(relevant, token_budget=config.context_tokens)
    generation = build_generation(
        prompt, question=question, sources=sources, token_budget=config.context_tokens, extra=extra
    )
    return GroundedAnswer(
        language, sources, await answer_from_sources(model, generation, sources, language=language)
    )
