"""Eval runs queued through the API, executed by the arq worker (`v1tr0 worker` registers the job)."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from arq.connections import ArqRedis
from arq.worker import func

from core.models import EvalRun, EvalRunStatus
from core.providers.embeddings import create_embedder
from core.providers.llm import create_chat_model
from core.tracing import job_span, record_outcome
from evals.catalog import resolve_dataset
from evals.loaders import DatasetError, load_dataset
from evals.records import finish_run
from evals.runner import EvalServices, RunOptions, run_eval
from ingestion.jobs import Runtime
from ingestion.worker import WorkerPlugin
from prompts.loader import PromptError, default_library
from retrieval.tasks import answer_tasks

log = logging.getLogger("v1tr0.evals")

EVAL_JOB = "run_eval"
JOB_TIMEOUT = 6 * 3600  # a whole SciFact corpus with e5 takes most of an hour on two cores


def job_id(run_id: uuid.UUID) -> str:
    return f"eval-run:{run_id}"


async def enqueue_eval_run(redis: ArqRedis, run_id: uuid.UUID) -> None:
    await redis.enqueue_job(EVAL_JOB, str(run_id), _job_id=job_id(run_id))


async def run_eval_job(ctx: dict[str, Any], run_id: str) -> str:
    """Run a queued eval run. Takes the run id, re-reads the request; a run no longer queued is left alone."""
    with job_span(EVAL_JOB, job_id=ctx.get("job_id"), attributes={"v1tr0.eval_run_id": run_id}) as span:
        outcome = await _run_eval(ctx["runtime"], run_id)
        record_outcome(span, outcome)
    return outcome


async def _run_eval(runtime: Runtime, run_id: str) -> str:
    settings, sessionmaker = runtime.settings, runtime.sessionmaker
    async with sessionmaker() as session:
        run = await session.get(EvalRun, uuid.UUID(run_id))
    if run is None:
        return "no such run"
    if run.status != EvalRunStatus.QUEUED:
        return f"already {run.status.value}"
    request = dict(run.settings.get("request") or {})
    try:
        dataset = load_dataset(resolve_dataset(run.dataset_name), run.split).limited(request.get("limit"))
        prompts = default_library()
        if run.kind == "answers":
            prompts.get(str(request.get("prompt") or "answer"))
    except (DatasetError, PromptError) as exc:
        await finish_run(sessionmaker, run.id, status=EvalRunStatus.FAILED, error=str(exc))
        return "failed"
    tasks = answer_tasks(
        create_chat_model(settings), prompts, postprocessors=settings.retrieval.postprocessors
    )
    services = EvalServices(
        settings=settings,
        sessionmaker=sessionmaker,
        embedder=create_embedder(settings),
        answerer=tasks.answerer,
        postprocessors=tasks.postprocessors,
        prompts=prompts,
    )
    options = RunOptions(
        kind=run.kind,
        mode=request.get("mode") or "hybrid",
        prompt=str(request.get("prompt") or "answer"),
        progress=False,
        run_id=run.id,
        settings_note={"request": request},
    )
    try:
        await run_eval(services, dataset, options)
    except Exception:  # recorded on the run by run_eval; the log keeps the trace
        log.exception("eval run failed", extra={"run_id": run_id})
        return "failed"
    return "completed"


def plugin() -> WorkerPlugin:
    return WorkerPlugin(
        name="evals", functions=[func(run_eval_job, name=EVAL_JOB, max_tries=1, timeout=JOB_TIMEOUT)]
    )
