"""`v1tr0 eval ...`: retrieval and answer runs, comparisons, the run list and the smoke gate.

Datasets are read (and checked) before any server starts, so bad input fails fast with exit code 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from core.settings import Settings
from evals.loaders import Dataset, DatasetError, load_dataset
from evals.meeting_dataset import is_meetings_dataset

Command = Callable[[Settings], int]
MODES = ("hybrid", "vector", "text")
INTERRUPTED = 130


def add_eval_parser(sub: Any) -> argparse.ArgumentParser:
    """The `eval` command group, added to the `v1tr0` parser's subcommands."""
    group = sub.add_parser("eval", help="evaluate retrieval and answers on datasets; compare runs")
    commands = group.add_subparsers(dest="eval_command", required=True)

    retrieval = commands.add_parser("retrieval", help="nDCG@10, recall@k, MRR, key-term recall, latency")
    _dataset_arguments(retrieval)
    retrieval.add_argument("--mode", choices=MODES, default="hybrid")

    answers = commands.add_parser("answers", help="the /ask logic over each question, scored with ragas")
    _dataset_arguments(answers)
    answers.add_argument("--prompt", default="answer", metavar="NAME@VERSION", help="e.g. answer@2")
    answers.add_argument("--mode", choices=MODES, default="hybrid")

    compare = commands.add_parser(
        "compare", help="two runs side by side, with the questions that changed most"
    )
    compare.add_argument(
        "run_a", metavar="RUN_A", help="run id (or a unique prefix of at least 6 characters)"
    )
    compare.add_argument("run_b", metavar="RUN_B")
    compare.add_argument("--html", type=Path, metavar="PATH", help="also write a self-contained HTML report")
    compare.add_argument("--top", type=int, default=10, help="questions listed (default 10)")

    runs = commands.add_parser("runs", help="the latest runs")
    runs.add_argument("--limit", type=int, default=20)

    from evals.meeting_cli import add_meetings_parser

    add_meetings_parser(commands)

    smoke = commands.add_parser(
        "smoke", help="the regression gate: fixed SciFact + QMSum subsets vs thresholds"
    )
    smoke.add_argument("--thresholds", type=Path, default=None, help="default evals/thresholds.toml")
    smoke.add_argument("--json", type=Path, metavar="PATH", help="also write the measured numbers here")
    parser: argparse.ArgumentParser = group
    return parser


def _dataset_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset", type=Path, required=True, metavar="PATH", help="a dataset folder or file"
    )
    parser.add_argument(
        "--split", default=None, help="BEIR: queries_SPLIT.jsonl + qrels_SPLIT.tsv; QMSum: folder"
    )
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="only the first N questions")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the metrics as JSON here")
    parser.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


MEETINGS_DEFAULTS: dict[str, Any] = {"base_url": None, "details": None, "timeout": 1800.0, "keep": False}


def prepare_command(args: argparse.Namespace, *, local_product: Any = None) -> Command:
    """Check the input (datasets, prompt names) and return what to run once the servers are up.
    Raises DatasetError for bad input. `local_product` starts the product in this process (for the
    evals that measure it through its API; v1tr0/stack.py)."""
    if args.eval_command == "answers" and is_meetings_dataset(args.dataset):
        # A meetings dataset is measured through the API, with every row of its table.
        args = argparse.Namespace(
            **{**MEETINGS_DEFAULTS, **vars(args), "split": args.split or "dev", "eval_command": "meetings"}
        )
    if args.eval_command == "meetings":
        from evals.meeting_cli import prepare_meetings

        return prepare_meetings(args, local_product)
    if args.eval_command in ("retrieval", "answers"):
        if args.limit is not None and args.limit < 1:
            raise DatasetError("--limit must be at least 1")
        dataset = load_dataset(args.dataset, args.split).limited(args.limit)
        if args.eval_command == "answers":
            from prompts.loader import PromptError, default_library

            try:
                default_library().get(args.prompt)
            except PromptError as exc:
                raise DatasetError(str(exc)) from None
        return lambda settings: _run(settings, args, dataset)
    if args.eval_command == "compare":
        return lambda settings: _database_command(settings, _compare(args))
    if args.eval_command == "runs":
        return lambda settings: _database_command(settings, _list_runs(args))
    from evals.smoke import THRESHOLDS, load_thresholds, meetings_gates, smoke_gates

    thresholds = load_thresholds(args.thresholds or THRESHOLDS)
    # A thresholds file names the gates it checks (the SciFact and QMSum subsets need ../shared/data).
    gates = (
        [gate for gate in smoke_gates() if gate.name in thresholds]
        if {"scifact", "qmsum"} & set(thresholds)
        else []
    )
    meetings = meetings_gates(thresholds)
    return lambda settings: _smoke(settings, args, gates, thresholds, meetings, local_product)


# --------------------------------------------------------------------------------------------- plumbing


def _migrate(settings: Settings) -> None:
    from core.migrate import upgrade

    assert settings.database_url
    upgrade(settings.database_url)


def _services(settings: Settings) -> Any:
    from core.db import create_engine, create_sessionmaker
    from core.providers.embeddings import create_embedder
    from core.providers.llm import create_chat_model
    from evals.runner import EvalServices
    from prompts.loader import default_library
    from retrieval.tasks import answer_tasks

    engine = create_engine(settings)
    prompts = default_library()
    tasks = answer_tasks(
        create_chat_model(settings), prompts, postprocessors=settings.retrieval.postprocessors
    )
    services = EvalServices(
        settings=settings,
        sessionmaker=create_sessionmaker(engine),
        embedder=create_embedder(settings),
        answerer=tasks.answerer,
        postprocessors=tasks.postprocessors,
        prompts=prompts,
    )
    return engine, services


def _database_command(settings: Settings, body: Callable[[Any], Any]) -> int:
    """Run `body(sessionmaker)` against the migrated database."""
    from core.db import create_engine, create_sessionmaker

    _migrate(settings)

    async def main() -> int:
        engine = create_engine(settings)
        try:
            code: int = await body(create_sessionmaker(engine))
            return code
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _print_metrics(metrics: dict[str, Any]) -> None:
    width = max((len(name) for name in metrics), default=6)
    for name, value in metrics.items():
        shown = f"{value:.4f}" if isinstance(value, float) else str(value)
        print(f"  {name:<{width}}  {shown}")


def _write_json(path: Path | None, payload: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
        print(f"metrics written to {path}")


async def _execute_run(settings: Settings, dataset: Dataset, options: Any) -> Any:
    from evals.runner import run_eval

    engine, services = _services(settings)
    try:
        return await run_eval(services, dataset, options)
    finally:
        await engine.dispose()


def _run(settings: Settings, args: argparse.Namespace, dataset: Dataset) -> int:
    from evals.runner import RunOptions

    _migrate(settings)
    options = RunOptions(
        kind=args.eval_command,
        mode=args.mode,
        prompt=getattr(args, "prompt", "answer"),
        progress=args.progress,
    )
    print(
        f"{args.eval_command} run on {dataset.name}"
        + (f" ({dataset.split})" if dataset.split else "")
        + f": {len(dataset.docs):,} documents, {len(dataset.questions):,} questions, mode {args.mode}",
        file=sys.stderr,
    )
    try:
        result = asyncio.run(_execute_run(settings, dataset, options))
    except KeyboardInterrupt:
        print("interrupted: the run is recorded as failed", file=sys.stderr)
        return INTERRUPTED
    print(f"run {result.run_id} ({result.questions} questions, {result.timings['total_s']:.1f} s)")
    _print_metrics(result.metrics)
    _write_json(args.json, result.metrics)
    return 0


def _compare(args: argparse.Namespace) -> Callable[[Any], Any]:
    async def body(sessionmaker: Any) -> int:
        from evals.compare import build_comparison, format_text, write_html
        from evals.records import find_run, run_items

        async with sessionmaker() as session:
            runs = [await find_run(session, reference) for reference in (args.run_a, args.run_b)]
            for reference, run in zip((args.run_a, args.run_b), runs, strict=True):
                if run is None:
                    print(
                        f"v1tr0 eval compare: no run {reference!r} (or the prefix is ambiguous)",
                        file=sys.stderr,
                    )
                    return 2
            run_a, run_b = runs
            assert run_a is not None and run_b is not None
            comparison = build_comparison(
                run_a,
                await run_items(session, run_a.id),
                run_b,
                await run_items(session, run_b.id),
                top=args.top,
            )
        print(format_text(comparison), end="")
        if args.html:
            write_html(comparison, args.html)
            print(f"report written to {args.html}")
        return 0

    return body


def _list_runs(args: argparse.Namespace) -> Callable[[Any], Any]:
    async def body(sessionmaker: Any) -> int:
        from core.models import EvalRun

        async with sessionmaker() as session:
            runs = (
                await session.scalars(
                    sa.select(EvalRun).order_by(EvalRun.created_at.desc()).limit(args.limit)
                )
            ).all()
        for run in runs:
            shown = [k for k in ("ndcg@10", "semantic_similarity", "key_term_recall") if k in run.metrics]
            headline = f"{shown[0]} {run.metrics[shown[0]]:.4f}" if shown else ""
            prompt = (
                f" {run.prompt_name}@{(run.prompt_version or '').split('+')[0]}" if run.prompt_name else ""
            )
            print(
                f"{run.id}  {run.created_at:%Y-%m-%d %H:%M}  {run.status.value:<9} {run.kind:<9} "
                f"{run.dataset_name}{prompt} {run.settings.get('mode', '')}  {headline}"
            )
            if run.error:
                print(f"    {run.error}")
        return 0

    return body


def _smoke(
    settings: Settings,
    args: argparse.Namespace,
    gates: list[Any],
    thresholds: dict[str, dict[str, float]],
    meetings: dict[str, Any] | None = None,
    local_product: Any = None,
) -> int:
    from evals.runner import RunOptions

    _migrate(settings)

    async def main() -> list[tuple[Any, Any]]:
        from evals.runner import run_eval

        engine, services = _services(settings)
        try:
            return [
                (gate, await run_eval(services, gate.dataset, RunOptions(progress=False))) for gate in gates
            ]
        finally:
            await engine.dispose()

    try:
        results = asyncio.run(main())
    except KeyboardInterrupt:
        print("interrupted: the run is recorded as failed", file=sys.stderr)
        return INTERRUPTED
    from evals.smoke import check_thresholds

    report: dict[str, Any] = {gate.name: {"run_id": str(run.run_id), **run.metrics} for gate, run in results}
    if local_product is not None:
        from evals.meeting_cli import measure_dataset

        for section, dataset in (meetings or {}).items():
            run_id, measured, _ = asyncio.run(
                measure_dataset(settings, dataset, base_url=None, local_product=local_product, progress=False)
            )
            report[section] = {"run_id": str(run_id), **measured.metrics}
    checks = check_thresholds(report, thresholds)
    print(f"{'gate':<10} {'metric':<28} {'measured':>9} {'minimum':>8}  run")
    for check in checks:
        shown = f"{check.measured:.4f}" if check.measured is not None else "missing"
        run_id = report.get(check.gate, {}).get("run_id", "-")
        verdict = "ok" if check.ok else "FAIL"
        print(f"{check.gate:<10} {check.metric:<28} {shown:>9} {check.minimum:>8.4f}  {run_id}  {verdict}")
    failed = not all(check.ok for check in checks)
    _write_json(args.json, report)
    if failed:
        print("eval-smoke: below the thresholds in evals/thresholds.toml", file=sys.stderr)
        return 1
    return 0
