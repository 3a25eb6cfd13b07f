"""The eval runner: retrieval runs (ranking metrics, key-term and span recall) and answer runs (the /ask
logic over each question, scored with ragas), each stored as a run with its per-question results.

A run interrupted midway (Ctrl-C, SIGTERM, an error) is marked failed with the reason; one whose process
died without a word is marked failed by the next run that starts (records.mark_stale_runs).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tqdm import tqdm

from core.models import EvalRunStatus
from core.providers.embeddings import Embedder
from core.settings import Settings
from evals.corpus import EVAL_SOURCE_TYPES, EvalCorpus, doc_source_id, ensure_corpus
from evals.loaders import Dataset, EvalQuestion
from evals.metrics import (
    key_term_recall,
    latency_summary,
    mean_metrics,
    rank_documents,
    ranking_metrics,
    span_recall,
)
from evals.records import RunSpec, add_items, finish_run, mark_stale_runs, start_run
from evals.scoring import AnswerScorer, create_judge
from ingestion.chunkers import warm_up
from prompts.loader import Prompt, PromptLibrary
from retrieval.answer import number_sources
from retrieval.answerers import Answerer
from retrieval.lexical import session_lexical
from retrieval.pipeline import Question, answer_events, collect
from retrieval.retriever import HybridRetriever, IndexModel
from retrieval.search import Hit, Mode, SearchFilters, min_similarity

RETRIEVAL, ANSWERS = "retrieval", "answers"
RANKING_DEPTH = 100  # chunks retrieved for the ranking metrics (recall@100)
FLUSH_EVERY = 25  # questions stored (and a heartbeat written) per transaction
STORED_IDS, STORED_CONTEXTS, CONTEXT_CHARS = 20, 5, 1500
DEFAULT_PROMPT = "answer"  # what /ask uses


@dataclass
class EvalServices:
    """What a run uses: the same settings, models and prompts as the API and the worker."""

    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    embedder: Embedder
    answerer: Answerer
    prompts: PromptLibrary
    postprocessors: tuple[BaseNodePostprocessor, ...] = ()  # a user's, as the API runs them
    judge_http: httpx.AsyncClient | None = None  # the LLM judge's HTTP client (tests mock it)


@dataclass
class RunOptions:
    kind: str = RETRIEVAL
    mode: Mode = "hybrid"
    prompt: str = DEFAULT_PROMPT
    progress: bool = True
    run_id: uuid.UUID | None = None  # a run queued through the API
    settings_note: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunResult:
    run_id: uuid.UUID
    metrics: dict[str, Any]
    timings: dict[str, Any]
    questions: int


def _retrieval_settings(
    services: EvalServices, options: RunOptions, dataset: Dataset, lexical: str
) -> dict[str, Any]:
    config = services.settings.retrieval
    chunking = services.settings.ingestion
    return {
        "mode": options.mode,
        "lexical": lexical,
        "fusion": config.fusion,
        "rrf_k": config.rrf_k,
        "vector_weight": config.vector_weight,
        "candidates": config.candidates,
        "text_candidates": config.text_candidates,
        "ef_search": config.ef_search,
        "answer_chunks": config.answer_chunks,
        "context_tokens": config.context_tokens,
        "min_similarity": min_similarity(services.embedder.name, config),
        "chunk_tokens": chunking.chunk_tokens,
        "chunk_overlap": chunking.chunk_overlap,
        "questions": len(dataset.questions),
        "documents": len(dataset.docs),
        "corpus_hash": dataset.corpus_hash,
        "dataset_path": str(dataset.path),
        "dataset_format": dataset.format,
        **options.settings_note,
    }


def _retriever(
    session: AsyncSession,
    services: EvalServices,
    corpus: EvalCorpus,
    dataset: Dataset,
    question: EvalQuestion,
    mode: Mode,
) -> HybridRetriever:
    scope = doc_source_id(dataset.corpus_hash, question.scope) if question.scope else None
    return HybridRetriever(
        session=session,
        project_ids=[corpus.project_id],
        embedder=services.embedder,
        model=IndexModel(services.embedder.name, services.embedder.dimensions),
        config=services.settings.retrieval,
        redis=None,  # every query is embedded: latencies include it, and repeat runs measure the same
        mode=mode,
        filters=SearchFilters(source_types=EVAL_SOURCE_TYPES, meeting_id=scope),
    )


def _context_metrics(question: EvalQuestion, hits: list[Hit], contexts: list[str]) -> dict[str, Any]:
    metrics: dict[str, Any] = {}
    if question.reference_answer:
        metrics["key_term_recall"] = key_term_recall(question.reference_answer, contexts)
    if question.relevant_turns:
        turns = {int(i) for hit in hits for i in hit.meta.get("segment_ids", [])}
        metrics["span_recall"] = span_recall(question.relevant_turns, turns)
    return metrics


def _stored_contexts(contexts: list[str]) -> list[str]:
    return [context[:CONTEXT_CHARS] for context in contexts[:STORED_CONTEXTS]]


ItemFn = Callable[[AsyncSession, EvalQuestion], Awaitable[dict[str, Any]]]


def retrieval_item(services: EvalServices, corpus: EvalCorpus, dataset: Dataset, mode: Mode) -> ItemFn:
    config = services.settings.retrieval

    async def run(session: AsyncSession, question: EvalQuestion) -> dict[str, Any]:
        retriever = _retriever(session, services, corpus, dataset, question, mode)
        depth = max(RANKING_DEPTH if question.relevant else 0, config.answer_chunks)
        started = time.perf_counter()
        hits = await retriever.search(question.question, limit=depth, snippets=False)
        latency = (time.perf_counter() - started) * 1000
        ranked = rank_documents(str(hit.meta.get("doc_id")) for hit in hits)
        metrics: dict[str, Any] = ranking_metrics(ranked, question.relevant) if question.relevant else {}
        # The context /ask would hand the model: the top answer_chunks, within the token budget.
        sources = number_sources(hits[: config.answer_chunks], token_budget=config.context_tokens)
        contexts = [source.hit.content for source in sources]
        metrics.update(_context_metrics(question, [s.hit for s in sources], contexts))
        return {
            "metrics": metrics,
            "retrieved_ids": ranked[:STORED_IDS],
            "contexts": _stored_contexts(contexts),
            "latency_ms": latency,
        }

    return run


def answers_item(
    services: EvalServices,
    corpus: EvalCorpus,
    dataset: Dataset,
    mode: Mode,
    prompt: Prompt,
    scorer: AnswerScorer,
) -> ItemFn:
    config = services.settings.retrieval

    async def run(session: AsyncSession, question: EvalQuestion) -> dict[str, Any]:
        retriever = _retriever(session, services, corpus, dataset, question, mode)
        started = time.perf_counter()
        answer = await collect(  # exactly what /ask does
            answer_events(
                Question(question.question, extra={"project_title": dataset.name}),
                retriever=retriever,
                answerer=services.answerer,
                prompt=prompt,
                config=config,
                postprocessors=services.postprocessors,
            )
        )
        sources, text, citations = answer.sources, answer.text, len(answer.citations)
        latency = (time.perf_counter() - started) * 1000
        contexts = [source.hit.content for source in sources]
        metrics: dict[str, Any] = await scorer.score(
            question=question.question,
            answer=text,
            contexts=contexts,
            reference_answer=question.reference_answer,
            reference_contexts=question.reference_contexts,
        )
        metrics["grounded"] = 1.0 if answer.grounded else 0.0
        metrics["citations"] = float(citations)
        metrics.update(_context_metrics(question, [s.hit for s in sources], contexts))
        return {
            "metrics": metrics,
            "answer": text,
            "retrieved_ids": rank_documents(str(s.hit.meta.get("doc_id")) for s in sources)[:STORED_IDS],
            "contexts": _stored_contexts(contexts),
            "latency_ms": latency,
        }

    return run


async def run_eval(services: EvalServices, dataset: Dataset, options: RunOptions) -> RunResult:
    """Load the corpus (or reuse it), run every question, store the run; returns its id and metrics."""
    prompt = services.prompts.get(options.prompt) if options.kind == ANSWERS else None
    async with services.sessionmaker() as session:
        lexical = await session_lexical(session, services.settings.retrieval.lexical)
    spec = RunSpec(
        kind=options.kind,
        dataset_name=dataset.name,
        dataset_hash=dataset.content_hash,
        split=dataset.split,
        prompt_name=prompt.name if prompt else None,
        prompt_version=prompt.version if prompt else None,
        provider=services.answerer.provider if prompt else None,
        model=services.answerer.model if prompt else None,
        embedding_model=services.embedder.name,
        settings=_retrieval_settings(services, options, dataset, lexical),
    )
    async with services.sessionmaker() as session, session.begin():
        await mark_stale_runs(session)
        run = await start_run(session, spec, run_id=options.run_id)
    run_id = run.id
    done = 0
    loading = True  # what an interruption interrupted: loading the corpus, or the questions
    try:
        began = time.perf_counter()
        corpus = await ensure_corpus(
            services.sessionmaker,
            dataset,
            embedder=services.embedder,
            chunking=services.settings.ingestion,
            cache_dir=services.settings.data_dir / "bench-cache",
            progress=options.progress,
        )
        loading = False
        warm_up()  # the tokenizer and parsers load once here, not inside the first question's latency
        indexed = time.perf_counter()
        if prompt is not None:
            judge = create_judge(services.settings, services.embedder, http=services.judge_http)
            scorer = AnswerScorer(services.embedder, judge)
            item = answers_item(services, corpus, dataset, options.mode, prompt, scorer)
        else:
            judge = None
            item = retrieval_item(services, corpus, dataset, options.mode)
        per_item: list[dict[str, Any]] = []
        latencies: list[float] = []
        pending: list[dict[str, Any]] = []
        bar = tqdm(
            total=len(dataset.questions),
            desc=f"{options.kind} {dataset.name}",
            unit="q",
            disable=not options.progress,
        )
        try:
            async with services.sessionmaker() as session:
                for question in dataset.questions:
                    result = await item(session, question)
                    await session.rollback()  # searches only read; end the snapshot between questions
                    per_item.append(result["metrics"])
                    latencies.append(result["latency_ms"])
                    pending.append(
                        {
                            "item_key": question.key,
                            "question": question.question,
                            "reference_answer": question.reference_answer,
                            **result,
                        }
                    )
                    done += 1
                    bar.update(1)
                    if len(pending) >= FLUSH_EVERY:
                        await _flush(services, run_id, pending)
                await _flush(services, run_id, pending)
        finally:
            bar.close()
        finished = time.perf_counter()
        metrics: dict[str, Any] = {**mean_metrics(per_item), **latency_summary(latencies), "questions": done}
        if judge is not None:
            metrics["judge_errors"] = judge.errors
        timings = {
            "index_s": round(indexed - began, 3),
            "questions_s": round(finished - indexed, 3),
            "total_s": round(finished - began, 3),
            "corpus_reused": corpus.reused,
            "chunks": corpus.chunks,
            "embedded_texts": corpus.embedded,
        }
        await finish_run(
            services.sessionmaker, run_id, status=EvalRunStatus.COMPLETED, metrics=metrics, timings=timings
        )
        return RunResult(run_id, metrics, timings, done)
    except (KeyboardInterrupt, asyncio.CancelledError):
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        progress = (
            "while loading the corpus" if loading else f"after {done} of {len(dataset.questions)} questions"
        )
        reason = f"interrupted {progress}"
        await finish_run(services.sessionmaker, run_id, status=EvalRunStatus.FAILED, error=reason)
        raise
    except Exception as exc:
        progress = (
            "while loading the corpus" if loading else f"after {done} of {len(dataset.questions)} questions"
        )
        reason = f"{type(exc).__name__}: {exc} ({progress})"
        await finish_run(services.sessionmaker, run_id, status=EvalRunStatus.FAILED, error=reason)
        raise


async def _flush(services: EvalServices, run_id: uuid.UUID, pending: list[dict[str, Any]]) -> None:
    async with services.sessionmaker() as session, session.begin():
        await add_items(session, run_id, pending)
    pending.clear()
