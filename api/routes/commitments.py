"""The commitment ledger of a project: list (open, overdue, by owner) and mark done."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api.access import require_project
from api.deps import CurrentUser, RedisDep, SessionDep
from api.schemas.common import Page, PageParams
from api.schemas.transcriptions import CommitmentRead, CommitmentUpdate
from core.models import CommitmentStatus, MemberRole
from meetings import ledger

router = APIRouter(prefix="/projects", tags=["commitments"])


@router.get("/{project_id}/commitments", response_model=Page[CommitmentRead])
async def list_commitments(
    project_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    page: Annotated[PageParams, Query()],
    status_: Annotated[CommitmentStatus | None, Query(alias="status")] = None,
    owner: Annotated[str | None, Query(max_length=200, description="a user id or part of a name")] = None,
    overdue: bool | None = None,
) -> object:
    await require_project(session, user, project_id)
    items, total = await ledger.list_commitments(
        session,
        project_id=project_id,
        status=status_,
        owner=owner,
        overdue=overdue,
        limit=page.limit,
        offset=page.offset,
    )
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.patch("/{project_id}/commitments/{commitment_id}", response_model=CommitmentRead)
async def update_commitment(
    project_id: uuid.UUID,
    commitment_id: uuid.UUID,
    body: CommitmentUpdate,
    session: SessionDep,
    redis: RedisDep,
    user: CurrentUser,
) -> object:
    await require_project(session, user, project_id, MemberRole.EDITOR)
    return await ledger.update_commitment(
        session,
        redis,
        actor_id=user.id,
        project_id=project_id,
        commitment_id=commitment_id,
        status=body.status,
    )
