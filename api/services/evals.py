"""Eval runs through the API (admins only): list and read stored runs, queue new ones for the worker."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession

from api.schemas.evals import EvalRunCreate
from core.crud import fetch_page
from core.errors import Invalid, NotFound
from core.models import EvalRun, EvalRunStatus, User
from core.outbox import after_commit
from evals.catalog import available_datasets
from evals.jobs import enqueue_eval_run
from evals.loaders import BEIR, PROJECT, PROJECT_SUFFIXES, QMSUM
from evals.records import run_items
from prompts.loader import PromptError, PromptLibrary


def dataset_names() -> list[tuple[str, str]]:
    """(name, format) of every dataset a request may name."""
    found = []
    for name, path in available_datasets().items():
        if path.is_file() or path.suffix in PROJECT_SUFFIXES:
            kind = PROJECT
        elif (path / "corpus.jsonl").exists():
            kind = BEIR
        elif any(path.glob("questions.*")):
            kind = PROJECT
        else:
            kind = QMSUM
        found.append((name, kind))
    return found


async def list_runs(session: AsyncSession, *, limit: int, offset: int) -> tuple[list[EvalRun], int]:
    return await fetch_page(
        session,
        sa.select(EvalRun),
        limit=limit,
        offset=offset,
        ordering=[EvalRun.created_at.desc(), EvalRun.id],
    )


async def get_run(session: AsyncSession, *, run_id: uuid.UUID) -> tuple[EvalRun, list[object]]:
    run = await session.get(EvalRun, run_id)
    if run is None:
        raise NotFound("eval run not found")
    return run, list(await run_items(session, run.id))


async def queue_run(
    session: AsyncSession, *, redis: ArqRedis, prompts: PromptLibrary, actor: User, data: EvalRunCreate
) -> EvalRun:
    """A queued run; the worker picks it up once this transaction has committed."""
    if data.dataset not in available_datasets():
        raise Invalid(
            f"unknown dataset {data.dataset!r}",
            details={"available": sorted(available_datasets())},
            code="unknown_dataset",
        )
    prompt = data.prompt or "answer"
    if data.kind == "answers":
        try:
            prompts.get(prompt)
        except PromptError:
            raise Invalid(f"no prompt named {prompt!r}", code="unknown_prompt") from None
    request = {"mode": data.mode, "prompt": prompt, "limit": data.limit}
    run = EvalRun(
        kind=data.kind,
        dataset_name=data.dataset,
        split=data.split,
        status=EvalRunStatus.QUEUED,
        settings={"mode": data.mode, "request": request},
        created_by_id=actor.id,
    )
    session.add(run)
    await session.flush()
    run_id = run.id
    after_commit(session, lambda: enqueue_eval_run(redis, run_id))
    return run
