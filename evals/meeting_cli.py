"""`v1tr0 eval meetings`: the meetings dev set measured through the public API, on a running server
(`--base-url`) or on the product started in this process; prints the table of issue 14 and stores the run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx

from core.models import EvalRunStatus
from core.settings import Settings
from evals.loaders import DatasetError
from evals.meeting_dataset import ABSTAIN, ANSWERABLE, DEFAULT_DATASET, MeetingsDataset, load_meetings_dataset
from evals.meeting_eval import Measured, run_meetings_eval

KIND = "meetings"
# Starts the product in this process and yields a client on it (v1tr0/stack.py: evals never import the api).
LocalProduct = Callable[[Settings], contextlib.AbstractAsyncContextManager[httpx.AsyncClient]]


def add_meetings_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "meetings",
        help="the meetings dev set through the public API: key facts, abstention, leaks, citations, "
        "search, commitments",
    )
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET, metavar="PATH")
    parser.add_argument(
        "--base-url",
        metavar="URL",
        help="a running server, e.g. http://127.0.0.1:8000 (default: the product in this process, on a "
        "scratch database)",
    )
    parser.add_argument("--split", choices=("dev", "test", "all"), default="dev")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the flat metrics here")
    parser.add_argument(
        "--details", type=Path, metavar="PATH", help="also write every answer, search result and ledger row"
    )
    parser.add_argument(
        "--timeout", type=float, default=1800.0, help="seconds to wait for transcripts and indexing"
    )
    parser.add_argument("--keep", action="store_true", help="leave the created projects on the server")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def prepare_meetings(
    args: argparse.Namespace, local_product: LocalProduct | None
) -> Callable[[Settings], int]:
    """Check the dataset now (exit 2 before any server starts); return the command."""
    dataset = load_meetings_dataset(args.dataset).with_split(args.split)
    if not dataset.questions and not dataset.queries:
        raise DatasetError(f"{args.dataset}: no questions or queries in split {args.split!r}")
    if args.base_url is None and local_product is None:
        raise DatasetError("no --base-url, and this command cannot start the product in-process")
    return lambda settings: _run(settings, args, dataset, local_product)


@contextlib.asynccontextmanager
async def _remote(base_url: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=base_url, timeout=600) as http:
        yield http


async def measure_dataset(
    settings: Settings,
    dataset: MeetingsDataset,
    *,
    base_url: str | None,
    local_product: LocalProduct | None,
    settle_within: float = 1800.0,
    keep: bool | None = None,
    progress: bool = True,
) -> tuple[uuid.UUID, Measured, dict[str, float]]:
    """Run the eval and store it as an eval run (with one item per question and per query). What the run
    created is deleted through the API afterwards unless `keep`; by default it is kept in-process only,
    where the scratch database is dropped whole."""
    if keep is None:
        keep = base_url is None
    from core.db import create_engine, create_sessionmaker
    from evals.records import RunSpec, add_items, finish_run, mark_stale_runs, start_run

    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    spec = RunSpec(
        kind=KIND,
        dataset_name=dataset.name,
        dataset_hash=dataset.content_hash,
        split=dataset.split,
        settings={
            "target": base_url or "in-process",
            "embedding_provider": settings.embedding.provider,
            "questions": len(dataset.questions),
            "queries": len(dataset.queries),
            "meetings": len(dataset.meetings),
            "segments": dataset.segment_count,
        },
    )
    try:
        async with sessionmaker() as session, session.begin():
            await mark_stale_runs(session)
            run_id = (await start_run(session, spec)).id
        try:
            product: contextlib.AbstractAsyncContextManager[httpx.AsyncClient]
            if base_url is not None:
                product = _remote(base_url)
            else:
                assert local_product is not None
                product = local_product(settings)
            async with product as http:
                measured, timings = await run_meetings_eval(
                    http,
                    dataset,
                    settle_within=settle_within,
                    keep=keep,
                    progress=progress,
                    log=lambda line: print(f"  {line}", file=sys.stderr) if progress else None,
                )
        except BaseException as exc:
            reason = (
                "interrupted"
                if isinstance(exc, KeyboardInterrupt | asyncio.CancelledError)
                else (f"{type(exc).__name__}: {exc}")
            )
            await finish_run(sessionmaker, run_id, status=EvalRunStatus.FAILED, error=reason)
            raise
        async with sessionmaker() as session, session.begin():
            await add_items(session, run_id, _items(dataset, measured))
        await finish_run(
            sessionmaker,
            run_id,
            status=EvalRunStatus.COMPLETED,
            metrics={
                **measured.metrics,
                "provider": measured.provider,
                "model": measured.model,
                "embedding_model": measured.embedding_model,
            },
            timings=timings,
        )
        return run_id, measured, timings
    finally:
        await engine.dispose()


def _items(dataset: MeetingsDataset, measured: Measured) -> list[dict[str, Any]]:
    questions = {q.id: q for q in dataset.questions}
    queries = {q.id: q for q in dataset.queries}
    items = []
    for result in measured.questions:
        question = questions[result["id"]]
        numbers = {
            k: v for k in ("key_facts", "key_facts_all", "citation_precision") if (v := result[k]) is not None
        }
        items.append(
            {
                "item_key": question.id,
                "question": question.question,
                "reference_answer": question.reference_answer,
                "answer": result["answer"],
                "metrics": {
                    **numbers,
                    "abstained": float(result["abstained"]),
                    "leak": float(bool(result["leak"])),
                    "citations": float(result["citations"]),
                },
                "retrieved_ids": result["cited_units"][:50],
                "contexts": [f"type: {question.type}", *(f"leak: {r}" for r in result["leak"])],
                "latency_ms": result["latency_ms"],
            }
        )
    for result in measured.queries:
        items.append(
            {
                "item_key": f"search:{result['id']}",
                "question": queries[result["id"]].query,
                "reference_answer": None,
                "answer": None,
                "metrics": {"key_top10": result["key_top10"], "ndcg@10": result["ndcg@10"]},
                "retrieved_ids": result["results"],
                "contexts": [f"scope: {result['scope']}"],
                "latency_ms": result["latency_ms"],
            }
        )
    return items


def _run(
    settings: Settings, args: argparse.Namespace, dataset: MeetingsDataset, local_product: LocalProduct | None
) -> int:
    from evals.cli import INTERRUPTED, _migrate, _write_json

    _migrate(settings)  # the run is recorded in the local database, whichever product it measures
    target = args.base_url or "the product in this process"
    print(
        f"meetings eval on {dataset.name} ({dataset.split}): {len(dataset.meetings)} meetings, "
        f"{dataset.segment_count} segments, {len(dataset.questions)} questions, {len(dataset.queries)} "
        f"queries, {len(dataset.commitments)} commitments; {target}, embeddings "
        f"{settings.embedding.provider if not args.base_url else 'of the server'}",
        file=sys.stderr,
    )
    try:
        run_id, measured, timings = asyncio.run(
            measure_dataset(
                settings,
                dataset,
                base_url=args.base_url,
                local_product=local_product,
                settle_within=args.timeout,
                keep=True if args.keep else None,
                progress=args.progress,
            )
        )
    except KeyboardInterrupt:
        print("interrupted: the run is recorded as failed", file=sys.stderr)
        return INTERRUPTED
    except (RuntimeError, httpx.HTTPError) as exc:  # the API or the in-process product failed
        print(f"v1tr0 eval meetings: {exc} (the run is recorded as failed)", file=sys.stderr)
        return 1
    print(
        f"run {run_id} ({timings['total_s']:.0f} s; answers by {measured.provider}/{measured.model}, "
        f"search with {measured.embedding_model})"
    )
    print(format_table(measured.metrics), end="")
    _write_json(args.json, {"run_id": str(run_id), **measured.metrics, **timings})
    if args.details:
        args.details.parent.mkdir(parents=True, exist_ok=True)
        details = {"questions": measured.questions, "queries": measured.queries, "ledger": measured.ledger}
        args.details.write_text(json.dumps(details, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


def _by(metrics: dict[str, Any], name: str, kinds: tuple[str, ...]) -> str:
    return ", ".join(
        f"{kind} {metrics[f'{name}/{kind}']:.2f}" for kind in kinds if f"{name}/{kind}" in metrics
    )


def _value(metrics: dict[str, Any], name: str) -> str:
    value = metrics.get(name)
    return f"{value:.2f}" if isinstance(value, float) else ("-" if value is None else str(value))


def format_table(metrics: dict[str, Any]) -> str:
    """The rows of issues 14 and 15: overall, then by question type (or search scope)."""
    abstain_counts = ", ".join(f"{kind} {metrics.get(f'abstained/{kind}', '-')}" for kind in ABSTAIN)
    rows = [
        ("answer holds the key facts", _value(metrics, "key_facts"), _by(metrics, "key_facts", ANSWERABLE)),
        ("  ... all of them", _value(metrics, "key_facts_all"), ""),
        ("abstains when the project lacks the answer", _value(metrics, "abstention"), abstain_counts),
        (
            "false abstentions",
            _value(metrics, "false_abstention"),
            _by(metrics, "false_abstention", ANSWERABLE),
        ),
        ("leaks from other projects", _value(metrics, "leaks"), ""),
        (
            "citations: cited units that support the answer",
            _value(metrics, "citation_precision"),
            f"segments per cited transcript chunk {_value(metrics, 'segments_per_cited_chunk')}; "
            + _by(metrics, "citation_precision", ANSWERABLE),
        ),
        (
            "search: key segments in the top 10",
            _value(metrics, "key_top10"),
            _by(metrics, "key_top10", ("project", "global")),
        ),
        ("search: nDCG@10", _value(metrics, "ndcg@10"), _by(metrics, "ndcg@10", ("project", "global"))),
        (
            "commitments: recall / precision",
            f"{_value(metrics, 'commitments/recall')} / {_value(metrics, 'commitments/precision')}",
            f"{metrics.get('commitments/matched', 0)} matched of {metrics.get('commitments/gold', 0)} gold, "
            f"{metrics.get('commitments/extracted', 0)} in the ledger",
        ),
        ("commitments: due date right (matched)", _value(metrics, "commitments/due_accuracy"), ""),
        ("commitments: status right (matched)", _value(metrics, "commitments/status_accuracy"), ""),
    ]
    width = max(len(row[0]) for row in rows)
    lines = [f"{'what':<{width}}  {'overall':>11}  by type"]
    lines += [f"{what:<{width}}  {overall:>11}  {detail}".rstrip() for what, overall, detail in rows]
    return "\n".join(lines) + "\n"
