"""The one retrieval -> answer pipeline. `/ask`, chat and the eval runner all consume `answer_events`,
which yields typed events (Start, Delta…, Citations, Done) as R2R's `rag()` serves its streaming and
non-streaming callers from one generator: what an eval measures is what a user gets, streamed or not."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import NodeWithScore, QueryBundle

from core.models import SourceType
from core.providers.llm import Usage
from core.settings import RetrievalSettings
from prompts.loader import Prompt
from retrieval.answer import (
    NO_ANSWER,
    Source,
    answer_language,
    build_generation,
    citation_payload,
    citations_for,
    cite_uncited_sentences,
    index_pending_note,
    keep_supported_citations,
    number_sources,
    relevant_hits,
    stream_answer,
)
from retrieval.answerers import Answerer, Asked, states_total
from retrieval.relevance import ProjectNames, calibrated_model, relevance_features
from retrieval.retriever import HybridRetriever, to_hit, to_node
from retrieval.search import Hit, SearchFilters, min_similarity, with_snippets
from retrieval.windows import TranscriptWindow


@dataclass(frozen=True)
class Question:
    """What is asked: the user's words, the standalone question retrieval searches for (a chat follow-up
    condensed with its history; else the same words), and extra prompt variables (history, title)."""

    text: str
    standalone: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    # The asked project's title and those of the caller's other projects: a question that names another
    # project ("¿y la app?" asked in the web's project) is likely answered there, not here.
    scope: ProjectNames = field(default_factory=lambda: ProjectNames())

    @property
    def search_text(self) -> str:
        return self.standalone or self.text


@dataclass(frozen=True)
class Start:
    sources: list[Source]
    standalone: str
    index_pending: int

    def payload(self) -> dict[str, Any]:
        return {
            "standalone_question": self.standalone,
            "sources": [citation_payload(source) for source in self.sources],
            "index_pending": self.index_pending,
        }


@dataclass(frozen=True)
class Delta:
    text: str


@dataclass(frozen=True)
class Citations:
    """The sources the answer cites (a marker whose sentence its source does not support is dropped),
    and the answer's text with only those markers: what is stored and what non-streaming callers get."""

    citations: list[dict[str, Any]]
    text: str = ""


@dataclass(frozen=True)
class Done:
    grounded: bool  # false: nothing relevant was found and the answer says so
    usage: Usage
    provider: str
    model: str
    prompt_name: str
    prompt_version: str
    timings: dict[str, float]


AnswerEvent = Start | Delta | Citations | Done


async def answer_events(
    question: Question,
    *,
    retriever: HybridRetriever,
    answerer: Answerer,
    prompt: Prompt,
    config: RetrievalSettings,
    index_pending: int = 0,
    postprocessors: Sequence[BaseNodePostprocessor] = (),
) -> AsyncIterator[AnswerEvent]:
    """Retrieve for the question, keep what is relevant, number it within the context budget, answer
    with [n] citations (markers to unknown sources removed as they stream), and say when the index is
    incomplete. With nothing relevant, the plain "I don't know" of the question's language."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    language = answer_language(question.text)
    hits = await retrieve(question.search_text, retriever=retriever, config=config, extra=postprocessors)
    threshold = min_similarity(retriever.model.name, config)
    relevant = relevant_hits(hits, min_similarity=threshold, question=question.search_text)
    if relevant and not answerable(question.search_text, hits, retriever.model.name, question.scope):
        relevant = []
    sources = number_sources(relevant, token_budget=config.context_tokens)
    if sources:  # snippets for the sources shown, not for every candidate retrieved
        shown = with_snippets([source.hit for source in sources], question.search_text)
        sources = [replace(source, hit=hit) for source, hit in zip(sources, shown, strict=True)]
    timings["retrieval_ms"] = _ms(started)
    yield Start(sources, question.search_text, index_pending)

    usage = Usage()
    parts: list[str] = []
    if sources:
        generation = build_generation(
            prompt,
            question=question.text,
            sources=sources,
            token_budget=config.context_tokens,
            extra=question.extra,
        )
        generation.question = question.search_text
        known = {source.n for source in sources}
        async for delta in stream_answer(answerer, generation, usage, known=known):
            if not parts:
                timings["first_token_ms"] = _ms(started)
            parts.append(delta)
            yield Delta(delta)
    grounded = bool("".join(parts).strip())
    if not grounded:
        parts = [NO_ANSWER[language]]
        yield Delta(parts[0])
    note = index_pending_note(index_pending, language)
    if note:
        yield Delta(note)
    text = "".join(parts)
    if grounded:
        text = cite_uncited_sentences(keep_supported_citations(text, sources), sources)
    yield Citations(citations_for(text, sources) if grounded else [], text + note)
    timings["total_ms"] = _ms(started)
    yield Done(grounded, usage, answerer.provider, answerer.model, prompt.name, prompt.version, timings)


async def retrieve(
    query: str,
    *,
    retriever: HybridRetriever,
    config: RetrievalSettings,
    extra: Sequence[BaseNodePostprocessor] = (),
) -> list[Hit]:
    """The chunks to answer from, through LlamaIndex's interfaces: the retriever's nodes, then node
    postprocessors (a user's reranker or filter first, then the transcript window), mapped back to
    chunks. A unit already inside a better-ranked unit's window adds nothing and is dropped."""
    bundle = QueryBundle(query)
    # What changed, and whether something promised was done (promised at one meeting, reported at a later
    # one): twice the chunks, the best of each meeting first.
    commitments = asks_about_commitments(query)
    across = spans_meetings(query) or commitments
    top_k = config.answer_chunks * (2 if across else 1)
    # A budget as it stands is summed up at the meeting that changed it, in words the question does not
    # use: a deeper pool, from which each meeting's best unit that states a total joins the answer's chunks.
    total = Asked.of(query).total
    retriever.top_k = max(top_k, TOTAL_POOL) if total else top_k
    nodes = await retriever.aretrieve(bundle)
    if total:
        nodes = nodes[:top_k] + meeting_totals(nodes[top_k:], nodes[:top_k])
    if commitments:
        # The ledger's entries (owner, task, due date, status) lead: they answer "who", "by when" and
        # "is it done" directly, and cite the meeting segment that made the commitment.
        ledger = await retriever.search(query, limit=LEDGER_HITS, filters=LEDGER_FILTER, snippets=False)
        ids = {hit.chunk_id for hit in ledger}
        nodes = [to_node(hit) for hit in ledger] + [n for n in nodes if int(n.node.node_id) not in ids]
    window = TranscriptWindow(
        session=retriever.session, model=retriever.model.name, window=config.transcript_window
    )
    for postprocessor in [*extra, window]:
        nodes = await postprocessor.apostprocess_nodes(nodes, bundle)
    hits: list[Hit] = []
    covered: set[tuple[str, int]] = set()
    for node in nodes:
        hit = to_hit(node)
        if hit is None:
            continue
        unit = (str(hit.source_id), hit.chunk_index)
        if unit in covered:
            continue
        if hit.window:
            covered |= {(unit[0], index) for index in _window_units(hit, config.transcript_window)}
        hits.append(hit)
    return one_per_meeting(hits) if across else hits


TOTAL_POOL = 60


def meeting_totals(pool: list[NodeWithScore], kept: list[NodeWithScore]) -> list[NodeWithScore]:
    """Of each meeting no kept transcript unit states a total for, the best-ranked unit of `pool` that
    does (answerers.states_total, on any of its turns)."""
    done = {meeting_of(n) for n in kept if _states_a_total(n)}
    found: list[NodeWithScore] = []
    for node in pool:
        meeting = meeting_of(node)
        if meeting and meeting not in done and _states_a_total(node):
            done.add(meeting)
            found.append(node)
    return found


def meeting_of(node: NodeWithScore) -> str | None:
    """The meeting of a transcript unit; None for any other chunk."""
    hit = to_hit(node)
    return hit.meeting_id if hit is not None and hit.source_type == SourceType.TRANSCRIPT else None


def _states_a_total(node: NodeWithScore) -> bool:
    lines = node.node.get_content().splitlines()[1:]  # the "[type › title]" header aside
    return any(states_total(line) for line in lines)


def answerable(question: str, hits: list[Hit], embedding_model: str, scope: ProjectNames) -> bool:
    """The calibrated decision (retrieval/relevance.py) where the model has one; else the per-chunk
    rule above alone decides."""
    model = calibrated_model(embedding_model)
    if model is None:
        return True
    return model.probability(relevance_features(question, hits, scope)) >= model.threshold


LEDGER_HITS = 4
LEDGER_FILTER = SearchFilters(source_types=(SourceType.COMMITMENTS,))
_COMMITMENT_WORDS = re.compile(
    r"\b(compromis\w*|tarea\w*|pendiente\w*|encarg\w*|responsable\w*|qued[óo] en|quedaron en|"
    r"tiene que|tienen que|entreg\w*|envi[óo]|enviad[oa]s?|mand[óo]|hech[oa]s?|cumpl\w*|terminad\w*|"
    r"vencid\w*|atrasad\w*|plazo\w*|commit\w*|tasks?|owner|deliver\w*|pending|overdue|done|sent)\b",
    re.IGNORECASE,
)


def asks_about_commitments(question: str) -> bool:
    """Who does what by when, and whether it is done: questions the commitment ledger answers."""
    return bool(_COMMITMENT_WORDS.search(question))


_ACROSS_MEETINGS = re.compile(
    r"\b(cambi\w*|antes|despu[ée]s|primer\w*|segund\w*|[úu]ltim\w*|entre|evoluci\w*|mov(i|ió|ido)\w*|"
    r"retras\w*|nuev[oa]s?|ahora|al final|finalmente|inicial\w*|original\w*|eligi\w*|escogi\w*|decidi\w*|"
    r"changed?|moved|before|after|choose|chose|chosen|decided|"
    r"finally|originally|now|latest)\b",
    re.IGNORECASE,
)


def spans_meetings(question: str) -> bool:
    """What changed, what was said first and later: questions whose answer is spread over meetings."""
    return bool(_ACROSS_MEETINGS.search(question))


def one_per_meeting(hits: list[Hit]) -> list[Hit]:
    """The best hit of every meeting first, in the meetings' order (an answer then reads as what was
    said when), then the rest as ranked. Unchanged when the hits come from fewer than two meetings."""
    best: dict[str, Hit] = {}
    for hit in hits:
        if hit.meeting_id and hit.meeting_id not in best:
            best[hit.meeting_id] = hit
    if len(best) < 2:
        return hits
    leading = sorted(best.values(), key=lambda hit: str(hit.meta.get("date") or ""))
    return leading + [hit for hit in hits if hit not in leading]


def _window_units(hit: Hit, window: int) -> range:
    return range(hit.chunk_index - window, hit.chunk_index + window + 1)


@dataclass
class CollectedAnswer:
    """The events of one answer, gathered (for callers that do not stream)."""

    text: str = ""
    sources: list[Source] = field(default_factory=list)
    index_pending: int = 0
    citations: list[dict[str, Any]] = field(default_factory=list)
    done: Done | None = None

    @property
    def grounded(self) -> bool:
        return self.done is not None and self.done.grounded


async def collect(events: AsyncIterator[AnswerEvent]) -> CollectedAnswer:
    answer = CollectedAnswer()
    parts: list[str] = []
    verified = ""
    async for event in events:
        match event:
            case Start(sources=sources, index_pending=pending):
                answer.sources, answer.index_pending = sources, pending
            case Delta(text=text):
                parts.append(text)
            case Citations(citations=citations, text=text):
                answer.citations = citations
                verified = text
            case Done():
                answer.done = event
    answer.text = (verified or "".join(parts)).strip()
    return answer


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)
