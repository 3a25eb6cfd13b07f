"""Runs end to end against the test database: corpus loading and reuse, stored runs and items, answers with
ragas scores, comparisons, and runs that stop midway."""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psutil
import pytest
import sqlalchemy as sa

from api.resources import Resources
from core.models import Chunk, EvalDataset, EvalItem, EvalRun, EvalRunStatus, Project
from core.providers.llm import Generation, Usage
from core.settings import Settings
from evals.compare import build_comparison, format_text, write_html
from evals.loaders import load_dataset
from evals.records import mark_stale_runs, run_items
from evals.runner import ANSWERS, RunOptions, run_eval
from tests.evals.helpers import eval_services, write_beir, write_meeting, write_project


class CountingEmbedder:
    def __init__(self, inner: Any) -> None:
        self.inner, self.name, self.dimensions = inner, inner.name, inner.dimensions
        self.passages = 0

    async def embed_passages(self, texts: list[str]) -> list[list[float]]:
        self.passages += len(texts)
        result: list[list[float]] = await self.inner.embed_passages(texts)
        return result

    async def embed_query(self, text: str) -> list[float]:
        result: list[float] = await self.inner.embed_query(text)
        return result


async def stored_run(resources: Resources, run_id: uuid.UUID) -> tuple[EvalRun, list[EvalItem]]:
    async with resources.sessionmaker() as session:
        run = await session.get(EvalRun, run_id)
        assert run is not None
        return run, await run_items(session, run_id)


async def test_a_beir_dataset_runs_end_to_end_and_reuses_its_corpus(
    settings: Settings, resources: Resources, tmp_path: Path
) -> None:
    dataset = load_dataset(write_beir(tmp_path / "tiny", split="train"), "train")
    services = eval_services(settings, resources)
    counting = CountingEmbedder(services.embedder)
    services.embedder = counting

    result = await run_eval(services, dataset, RunOptions(mode="hybrid", progress=False))

    run, items = await stored_run(resources, result.run_id)
    assert run.status == EvalRunStatus.COMPLETED and run.error is None
    assert (run.kind, run.dataset_name, run.split, run.dataset_hash) == (
        "retrieval",
        "tiny",
        "train",
        dataset.content_hash,
    )
    assert run.embedding_model == "static/tokenlearn-64" and run.settings["mode"] == "hybrid"
    assert run.git_commit is None or len(run.git_commit) >= 40
    assert run.finished_at is not None and run.item_count == 3
    assert [item.item_key for item in items] == ["q1", "q2", "q3"]
    # Each question's only relevant document is an exact topical match: it ranks first.
    assert all(item.retrieved_ids[0] == {"q1": "d1", "q2": "d5", "q3": "d4"}[item.item_key] for item in items)
    assert run.metrics["ndcg@10"] == 1.0 and run.metrics["recall@100"] == 1.0 and run.metrics["mrr"] == 1.0
    assert run.metrics["questions"] == 3 and run.metrics["latency_p50_ms"] > 0
    assert counting.passages == 5 and run.timings["corpus_reused"] is False

    async with resources.sessionmaker() as session:
        (row,) = (await session.scalars(sa.select(EvalDataset))).all()
        project = await session.get(Project, row.project_id)
        chunks = await session.scalar(
            sa.select(sa.func.count()).select_from(Chunk).where(Chunk.project_id == row.project_id)
        )
    assert project is not None and project.is_eval and row.content_hash == dataset.corpus_hash
    assert chunks == 5

    again = await run_eval(services, dataset, RunOptions(mode="text", progress=False))

    rerun, _ = await stored_run(resources, again.run_id)
    assert counting.passages == 5  # nothing embedded a second time
    assert rerun.timings["corpus_reused"] is True and rerun.settings["mode"] == "text"
    assert rerun.metrics["ndcg@10"] == 1.0


async def test_meeting_questions_search_their_meeting_and_score_key_terms(
    settings: Settings, resources: Resources, tmp_path: Path
) -> None:
    write_meeting(tmp_path / "qm" / "val", "M001")
    write_meeting(tmp_path / "qm" / "val", "M002")
    dataset = load_dataset(tmp_path / "qm", "val")

    result = await run_eval(eval_services(settings, resources), dataset, RunOptions(progress=False))

    _, items = await stored_run(resources, result.run_id)
    assert len(items) == 4
    specific = next(item for item in items if item.item_key == "M002/s0")
    assert specific.retrieved_ids == ["M002"]  # searched within its own meeting only
    assert specific.metrics["span_recall"] == 1.0
    assert specific.metrics["key_term_recall"] == 1.0
    assert "Designer: I propose a rubber case" in specific.contexts[0]


async def test_answer_runs_score_with_ragas_and_compare_prompt_versions(
    settings: Settings, resources: Resources, tmp_path: Path
) -> None:
    dataset = load_dataset(write_project(tmp_path / "proj"))
    services = eval_services(settings, resources)

    first = await run_eval(services, dataset, RunOptions(kind=ANSWERS, prompt="answer@1", progress=False))
    second = await run_eval(services, dataset, RunOptions(kind=ANSWERS, prompt="answer@2", progress=False))

    run_a, items_a = await stored_run(resources, first.run_id)
    run_b, items_b = await stored_run(resources, second.run_id)
    assert run_a.prompt_version is not None and run_b.prompt_version is not None
    assert (run_a.prompt_name, run_a.prompt_version.split("+")[0]) == ("answer", "1")
    assert run_b.prompt_version.startswith("2+")
    assert (run_a.provider, run_a.model) == ("extractive", "extractive-v1")
    price = next(item for item in items_a if item.item_key == "price")
    assert price.answer is not None and "18,500 euros" in price.answer
    assert price.metrics["context_recall"] == 1.0
    assert price.metrics["context_precision"] == pytest.approx(1.0)
    assert price.metrics["semantic_similarity"] > 0.3 and 0 < price.metrics["string_similarity"] <= 1
    assert price.metrics["grounded"] == 1.0
    for name in ("context_precision", "context_recall", "string_similarity", "semantic_similarity"):
        assert name in run_a.metrics
    assert "faithfulness" not in run_a.metrics  # no LLM configured: no LLM-judged metric

    comparison = build_comparison(run_a, items_a, run_b, items_b)
    text = format_text(comparison)
    assert "prompt_version" in text and run_a.prompt_version in text and run_b.prompt_version in text
    assert "semantic_similarity" in text and "+0.0000" in text
    assert comparison.primary == "semantic_similarity" and comparison.shared_items == 2
    report = tmp_path / "report.html"
    write_html(comparison, report)
    html = report.read_text()
    assert html.count("data:image/png;base64,") >= 2 and "answer" in html and "<script" not in html


async def test_comparison_lists_the_questions_that_changed_most(
    settings: Settings, resources: Resources, tmp_path: Path
) -> None:
    dataset = load_dataset(write_beir(tmp_path / "tiny"))
    services = eval_services(settings, resources)
    good = await run_eval(services, dataset, RunOptions(mode="text", progress=False))
    async with resources.sessionmaker() as session, session.begin():
        await session.execute(
            sa.update(EvalItem)
            .where(EvalItem.run_id == good.run_id, EvalItem.item_key == "q2")
            .values(metrics={"ndcg@10": 0.25})
        )
        worse = EvalRun(
            kind="retrieval",
            dataset_name="tiny",
            dataset_hash="other",
            status=EvalRunStatus.COMPLETED,
            metrics={"ndcg@10": 0.75},
        )
        session.add(worse)
        await session.flush()
        session.add_all(
            [
                EvalItem(run_id=worse.id, item_key=key, question=key, metrics={"ndcg@10": value})
                for key, value in (("q1", 1.0), ("q2", 1.0), ("q3", 0.25))
            ]
        )
    run_a, items_a = await stored_run(resources, good.run_id)
    run_b, items_b = await stored_run(resources, worse.id)

    comparison = build_comparison(run_a, items_a, run_b, items_b)

    assert [(c.key, c.delta) for c in comparison.changed] == [("q2", 0.75), ("q3", -0.75)]
    text = format_text(comparison)
    assert "WARNING: the runs used different data" in text
    assert "ndcg@10" in text and "-0.2500 worse" in text


class StopOnSecondQuestion:
    provider, model = "extractive", "stops"

    def __init__(self, error: BaseException) -> None:
        self.calls, self.error = 0, error

    async def stream(self, request: Generation, usage: Usage) -> AsyncIterator[str]:
        self.calls += 1
        if self.calls == 2:
            raise self.error
        yield "An answer [1]."


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (asyncio.CancelledError(), "interrupted after 1 of 2 questions"),
        (RuntimeError("model crashed"), "RuntimeError: model crashed (after 1 of 2 questions)"),
    ],
)
async def test_a_run_stopped_midway_is_marked_failed_with_the_reason(
    settings: Settings, resources: Resources, tmp_path: Path, error: BaseException, expected: str
) -> None:
    dataset = load_dataset(write_project(tmp_path / "proj"))
    services = eval_services(settings, resources, chat_model=StopOnSecondQuestion(error))

    with pytest.raises(type(error)):
        await run_eval(services, dataset, RunOptions(kind=ANSWERS, progress=False))

    async with resources.sessionmaker() as session:
        (run,) = (await session.scalars(sa.select(EvalRun))).all()
    assert run.status == EvalRunStatus.FAILED and run.error == expected and run.finished_at is not None


async def test_runs_left_running_by_a_dead_process_are_marked_failed(resources: Resources) -> None:
    host = socket.gethostname()
    dead_pid = max(2**22, os.getpid() + 1)
    while psutil.pid_exists(dead_pid):
        dead_pid += 1
    async with resources.sessionmaker() as session, session.begin():
        dead = EvalRun(
            kind="retrieval",
            dataset_name="x",
            status=EvalRunStatus.RUNNING,
            runner=f"{host}:{dead_pid}",
            heartbeat_at=sa.func.now(),
        )
        alive = EvalRun(
            kind="retrieval",
            dataset_name="x",
            status=EvalRunStatus.RUNNING,
            runner=f"{host}:{os.getpid()}",
            heartbeat_at=sa.func.now(),
        )
        session.add_all([dead, alive])

    async with resources.sessionmaker() as session, session.begin():
        assert await mark_stale_runs(session) == 1

    async with resources.sessionmaker() as session:
        statuses = {
            run.runner: (run.status, run.error) for run in (await session.scalars(sa.select(EvalRun))).all()
        }
    assert statuses[f"{host}:{dead_pid}"][0] == EvalRunStatus.FAILED
    assert "stopped without finishing" in (statuses[f"{host}:{dead_pid}"][1] or "")
    assert statuses[f"{host}:{os.getpid()}"] == (EvalRunStatus.RUNNING, None)
