"""The parts of a grounded answer: which retrieved chunks are relevant, their numbering as sources within
the context budget, the prompt built from them, and mapping the answer's [n] markers back to the chunks
they cite (dropping any marker that cites nothing). retrieval/pipeline.py puts them together."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from core import i18n
from core.i18n import Language
from core.models import SourceType
from core.providers.llm import ContextPassage, Generation, Usage
from core.text import content_terms
from core.tokens import count_tokens, truncate_tokens
from prompts.loader import Prompt, fence_safe
from retrieval.answerers import Answerer
from retrieval.search import Hit
from retrieval.windows import narrow_to_segments, unit_segments

# Any bracketed number reads as a citation to a user, so any is checked (a huge one cites nothing).
CITATION = re.compile(r"\[(\d+)\]")
OPEN_CITATION = re.compile(r"\[[\[\d]*$")  # a tail that may still become a marker: "[", "[1", "[[2"
MAX_CITATION_DIGITS = 4
# A full-text match counts as relevant when it covers most of the question's content words (ts_rank's
# scale depends on document length, so its value alone is no threshold).
MIN_TERM_COVERAGE = 0.6
# The plain "I don't know", per question language (core/i18n.py).
NO_ANSWER = {language: i18n.text("answer.no_answer", language) for language in i18n.LANGUAGES}
# Where in a document a chunk is (set by the prose chunker): shown as "p. 4" or "Presupuesto › Pagos".
DOCUMENT_PLACES = ("section", "page", "page_end", "slide")
_ENGLISH = re.compile(r"\b(what|who|when|where|which|how|why|is|are|does|did|the|of)\b", re.IGNORECASE)


def answer_language(question: str) -> Language:
    return "en" if len(_ENGLISH.findall(question)) >= 2 else "es"


def index_pending_note(pending: int, language: Language) -> str:
    """The sentence (with its paragraph break) that says the answer may miss unindexed changes; "" when
    the index is complete."""
    if pending <= 0:
        return ""
    return "\n\n" + i18n.plural("answer.index_pending", pending, language, n=pending)


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
    if hit.context is not None:
        return count_tokens(hit.context)
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
        content = source.hit.context or source.hit.content
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
        passages=[
            ContextPassage(
                source.n,
                source.hit.context or source.hit.content,
                None if source.hit.context else source.hit.token_count,
                source.hit.meeting_id,
                _meeting_date(source.hit),
            )
            for source in sources
        ],
    )


def _meeting_date(hit: Hit) -> str | None:
    date = hit.meta.get("date") if hit.meeting_id else None
    return date if isinstance(date, str) else None


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


def citation_payload(source: Source, segments: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """What a citation shows: the chunk, and for a transcript the segments it cites (`segments`: the
    ones the answer quotes; else the chunk's own) with their start, end, speakers and ids."""
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
    if hit.meta.get("segment_ids") is not None:
        payload["segment_ids"] = hit.meta["segment_ids"]
    if segments:
        payload["start"] = min(float(s["start"]) for s in segments)
        payload["end"] = max(float(s["end"]) for s in segments)
        payload["speakers"] = sorted({str(s["speaker"]) for s in segments if s.get("speaker")})
        payload["segment_ids"] = sorted({int(s["id"]) for s in segments})
    for key in DOCUMENT_PLACES:
        if hit.meta.get(key) is not None:
            payload[key] = hit.meta[key]
    return payload


_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|\n+")


def quoted_before(answer: str) -> dict[int, list[str]]:
    """For every citation number, the sentences that end with its marker (what the answer says it took
    from that source)."""
    quoted: dict[int, list[str]] = {}
    start = 0
    for match in CITATION.finditer(answer):
        before = answer[start : match.start()]
        sentence = _SENTENCE_END.split(before.rstrip())[-1]
        sentence = CITATION.sub("", sentence).strip()
        if sentence:
            quoted.setdefault(_number(match), []).append(sentence)
        if not answer[match.end() : match.end() + 1].startswith("["):
            start = match.end()
    return quoted


# Share of a cited sentence's content words its source must hold for the citation to stand.
MIN_SUPPORT = 0.35


def supports(sentence: str, source: Source) -> bool:
    wanted = set(content_terms(sentence))
    if not wanted:
        return True
    held = set(content_terms(source.hit.context or source.hit.content))
    return len(wanted & held) / len(wanted) >= MIN_SUPPORT


def keep_supported_citations(answer: str, sources: list[Source]) -> str:
    """Drop every [n] whose sentence source n does not support (a model that cites at random, or cites
    the wrong passage, cites nothing): an answer sentence without a supporting source is not cited."""
    by_number = {source.n: source for source in sources}
    unsupported = {
        n
        for n, sentences in quoted_before(answer).items()
        if n in by_number and not any(supports(sentence, by_number[n]) for sentence in sentences)
    }
    if not unsupported:
        return answer
    stripped = CITATION.sub(lambda m: "" if _number(m) in unsupported else m.group(0), answer)
    return re.sub(r" +([.,;:!?])", r"\1", stripped)


# Share of an uncited sentence's content words one source must hold for the sentence to be cited to it:
# stricter than MIN_SUPPORT, because here the model did not claim the source.
MIN_ATTRIBUTION = 0.6
_SENTENCE_PIECES = re.compile(r"((?<=[.!?…])\s+|\n+)")


def cite_uncited_sentences(answer: str, sources: list[Source]) -> str:
    """A model that answers without markers (small local models mostly do) still took its words from the
    sources: each sentence without a [n] and with two or more content words is cited to the source that
    holds most of them, when that source holds MIN_ATTRIBUTION of them. A sentence no source holds stays
    uncited."""
    pieces = _SENTENCE_PIECES.split(answer)
    held: list[tuple[Source, set[str]]] = []  # each source's words, read once for all the sentences
    for index in range(0, len(pieces), 2):  # odd indexes are the separators
        sentence = pieces[index]
        if CITATION.search(sentence):
            continue
        wanted = set(content_terms(sentence))
        if len(wanted) < 2:
            continue
        if not held:
            held = [
                (source, set(content_terms(source.hit.context or source.hit.content))) for source in sources
            ]
        best, share = None, 0.0
        for source, terms in held:
            if (covered := len(wanted & terms) / len(wanted)) > share:
                best, share = source, covered
        if best is None or share < MIN_ATTRIBUTION:
            continue
        body = sentence.rstrip()
        tail = sentence[len(body) :]
        if body[-1] in ".!?…":
            pieces[index] = f"{body[:-1]} [{best.n}]{body[-1]}{tail}"
        else:
            pieces[index] = f"{body} [{best.n}]{tail}"
    return "".join(pieces)


def citations_for(answer: str, sources: list[Source]) -> list[dict[str, Any]]:
    """The cited sources, in order of first citation; a transcript source is narrowed to the segments that
    hold what the answer quoted from it."""
    by_number = {source.n: source for source in sources}
    quoted = quoted_before(answer)
    citations = []
    for n in cited_numbers(answer):
        source = by_number.get(n)
        if source is None:
            continue
        segments: list[dict[str, Any]] = []
        if source.hit.source_type == SourceType.TRANSCRIPT:
            candidates = source.hit.window or unit_segments(source.hit.content, source.hit.meta)
            for sentence in quoted.get(n, []):
                segments += [s for s in narrow_to_segments(sentence, candidates) if s not in segments]
        citations.append(citation_payload(source, segments))
    return citations


async def stream_answer(
    answerer: Answerer, generation: Generation, usage: Usage, *, known: set[int]
) -> AsyncIterator[str]:
    """The answer's text as it streams, with citation markers to unknown sources removed on the fly."""
    pending = ""
    async for delta in answerer.answer(generation, usage):
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
