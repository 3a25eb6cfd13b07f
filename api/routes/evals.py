"""Eval runs (admins only): stored runs with their per-question results, and runs queued for the worker."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from api import limits
from api.deps import AdminUser, RedisDep, ResourcesDep, SessionDep
from api.limits import Budget, client_ip
from api.schemas.common import Page, PageParams
from api.schemas.evals import EvalDatasetRead, EvalItemRead, EvalRunCreate, EvalRunRead, EvalRunSummary
from api.services import evals as service

router = APIRouter(prefix="/evals", tags=["evals"])


@router.get("/runs", response_model=Page[EvalRunSummary])
async def list_runs(session: SessionDep, admin: AdminUser, page: Annotated[PageParams, Query()]) -> object:
    items, total = await service.list_runs(session, limit=page.limit, offset=page.offset)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/runs/{run_id}", response_model=EvalRunRead)
async def get_run(run_id: uuid.UUID, session: SessionDep, admin: AdminUser) -> object:
    run, items = await service.get_run(session, run_id=run_id)
    return EvalRunRead(
        **EvalRunSummary.model_validate(run).model_dump(),
        items=[EvalItemRead.model_validate(item) for item in items],
    )


@router.post("/runs", status_code=status.HTTP_202_ACCEPTED, response_model=EvalRunSummary)
async def queue_run(
    body: EvalRunCreate,
    request: Request,
    session: SessionDep,
    admin: AdminUser,
    redis: RedisDep,
    resources: ResourcesDep,
) -> object:
    await limits.spend(resources, Budget.EVAL_RUNS, user_id=admin.id, ip=client_ip(request))
    return await service.queue_run(session, redis=redis, prompts=resources.prompts, actor=admin, data=body)


@router.get("/datasets", response_model=list[EvalDatasetRead])
async def list_datasets(admin: AdminUser) -> object:
    return [{"name": name, "format": kind} for name, kind in service.dataset_names()]
