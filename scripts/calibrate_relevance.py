"""Fit the abstention decision (retrieval/relevance.py) on meetings datasets' tuning splits.

The dataset is built through the public API in-process (as `v1tr0 eval meetings` does, on scratch
storage); then, for every question of the split, the answer pipeline's own retrieval runs and the
relevance features of what it found are read. Answerable questions are positives; `unanswerable` and
`other_project` ones (the project lacks the answer) are negatives. A logistic model is fitted; its
threshold is the highest that keeps false abstentions at or below MAX_FALSE_ABSTENTIONS (answering
wrongly is worse than abstaining, but abstaining on what the project knows is what users notice first),
chosen on leave-one-out probabilities (each question judged by a model fitted without it), which is
what a new question gets; the numbers on the fitting split itself are printed beside them. The result is
written to retrieval/relevance.json under the embedding model's name (other models' entries are kept).
Several datasets are fitted on together (`--dataset PATH[:SPLIT]`, repeated): each brings its own world,
so the decision does not learn one world's words.

    V1TR0_EMBEDDING__PROVIDER=e5 .venv/bin/python scripts/calibrate_relevance.py \
        --dataset evals/datasets/reuniones:all --dataset evals/datasets/reuniones-b:dev
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from api.resources import Resources  # noqa: E402
from core.providers.embeddings import model_spec  # noqa: E402
from core.settings import Settings, load_settings  # noqa: E402
from evals.meeting_dataset import load_meetings_dataset  # noqa: E402
from evals.meeting_eval import ApiClient, build_world, sign_up  # noqa: E402
from retrieval.pipeline import retrieve  # noqa: E402
from retrieval.relevance import (  # noqa: E402
    CALIBRATION_FILE,
    FEATURES,
    ProjectNames,
    RelevanceModel,
    fit,
    relevance_features,
)
from retrieval.retriever import HybridRetriever, current_model  # noqa: E402
from v1tr0.stack import product_client, stack_settings  # noqa: E402
from v1tr0.supervisor import with_services  # noqa: E402

MAX_FALSE_ABSTENTIONS = 0.05
DATASET = ROOT / "evals" / "datasets" / "reuniones"


async def features_of(
    settings: Settings, folder: Path, split: str
) -> tuple[str, list[dict[str, float]], list[int], list[str]]:
    from v1tr0 import stack

    dataset = load_meetings_dataset(folder).with_split(split)
    database_url = stack._scratch_database_url(settings.database_url or "")
    name = database_url.partition("?")[0].rpartition("/")[2]
    redis_url = stack._redis_db_url(settings.redis_url or "", stack.REDIS_DB)
    async with stack._scratch_redis(redis_url):
        await asyncio.to_thread(stack._recreate, settings.database_url, name)
        try:
            await asyncio.to_thread(stack.upgrade, database_url)
            scratch = stack_settings(settings, database_url=database_url, redis_url=redis_url)
            resources = Resources.open(scratch)
            try:
                async with product_client(scratch, resources) as http:
                    api = ApiClient(http)
                    await sign_up(api)
                    world = await build_world(api, dataset, settle_within=1800, progress=print)
                    rows, labels, ids = [], [], []
                    titles = {
                        project.id: str(project.fields.get("title", "")) for project in dataset.projects
                    }
                    about = {
                        project.id: str(project.fields.get("description", "")) for project in dataset.projects
                    }
                    names = {
                        key: ProjectNames(title, tuple(t for k, t in titles.items() if k != key), about[key])
                        for key, title in titles.items()
                    }
                    for question in dataset.questions:
                        async with resources.sessionmaker() as session:
                            model = await current_model(session)
                            retriever = HybridRetriever(
                                session=session,
                                project_ids=[uuid.UUID(world.projects[question.project])],
                                embedder=resources.embedder(model.name),
                                model=model,
                                config=scratch.retrieval,
                                redis=resources.redis,
                            )
                            hits = await retrieve(
                                question.question, retriever=retriever, config=scratch.retrieval
                            )
                        rows.append(relevance_features(question.question, hits, names[question.project]))
                        labels.append(1 if question.answerable else 0)
                        ids.append(f"{folder.name}:{question.id} ({question.type})")
                    return model.name, rows, labels, ids
            finally:
                await resources.close()
        finally:
            await asyncio.to_thread(stack._recreate, settings.database_url, name, drop_only=True)


def choose_threshold(probabilities: list[float], labels: list[int]) -> float:
    """The highest threshold whose false abstentions stay within MAX_FALSE_ABSTENTIONS."""
    positives = [p for p, y in zip(probabilities, labels, strict=True) if y == 1]
    best = 0.0
    for threshold in sorted({0.0, *probabilities}):
        false_abstentions = sum(p < threshold for p in positives) / len(positives)
        if false_abstentions <= MAX_FALSE_ABSTENTIONS:
            best = threshold
    return best


def rates(probabilities: list[float], labels: list[int], threshold: float) -> dict[str, float]:
    negatives = [p for p, y in zip(probabilities, labels, strict=True) if y == 0]
    positives = [p for p, y in zip(probabilities, labels, strict=True) if y == 1]
    return {
        "abstains": round(sum(p < threshold for p in negatives) / len(negatives), 3),
        "false_abstentions": round(sum(p < threshold for p in positives) / len(positives), 3),
    }


def _dataset_and_split(spec: str) -> tuple[Path, str]:
    path, _, split = spec.rpartition(":") if spec.endswith((":dev", ":test", ":all")) else (spec, "", "dev")
    return Path(path).resolve(), split


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", action="append", metavar="PATH[:SPLIT]", help=f"default: {DATASET}:dev")
    parser.add_argument("--l2", type=float, default=1.0)
    args = parser.parse_args()
    sets = [_dataset_and_split(spec) for spec in args.dataset or [f"{DATASET}:dev"]]

    def run(settings: Settings) -> int:
        model_name, rows, labels, ids = "", [], [], []
        for folder, split in sets:
            model_name, more_rows, more_labels, more_ids = asyncio.run(features_of(settings, folder, split))
            rows, labels, ids = rows + more_rows, labels + more_labels, ids + more_ids
        # Each question judged by a model fitted without it: these probabilities are what new questions
        # get (in-sample ones are overconfident), so the threshold is chosen on them.
        held_out = []
        for i in range(len(rows)):
            partial = fit(rows[:i] + rows[i + 1 :], labels[:i] + labels[i + 1 :], l2=args.l2)
            held_out.append(partial.probability(rows[i]))
        threshold = choose_threshold(held_out, labels)
        loo = rates(held_out, labels, threshold)
        model = fit(rows, labels, l2=args.l2)
        model = RelevanceModel(model.weights, model.means, model.scales, model.bias, threshold)
        probabilities = [model.probability(row) for row in rows]
        fitted = rates(probabilities, labels, threshold)
        for row_id, p, y in zip(ids, probabilities, labels, strict=True):
            if (p < threshold) != (y == 0):
                print(f"  wrong: {row_id} p={p:.2f}", file=sys.stderr)
        print(
            json.dumps({"model": model_name, "fitted": fitted, "leave_one_out": loo, "threshold": threshold})
        )
        data: dict[str, Any] = (
            json.loads(CALIBRATION_FILE.read_text()) if CALIBRATION_FILE.exists() else {"models": {}}
        )
        data["features"] = list(FEATURES)
        data["models"][model_name] = {
            "model": model.as_json(),
            "fitted_on": " + ".join(f"{folder.name} {split}" for folder, split in sets)
            + f": {len(rows)} questions, {labels.count(0)} negatives",
            "fitted_at": datetime.now(UTC).date().isoformat(),
            "on_the_fitting_split": fitted,
            "leave_one_out": loo,
        }
        CALIBRATION_FILE.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
        return 0

    settings = load_settings()
    print(f"embedding model: {model_spec(settings).name}", file=sys.stderr)
    return with_services(settings, run)


if __name__ == "__main__":
    raise SystemExit(main())
