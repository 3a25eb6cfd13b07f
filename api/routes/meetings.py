"""Meetings (CRUD). Joining, leaving and Jitsi tokens come with the meetings feature."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, status

from api.deps import CurrentUser, SessionDep
from api.schemas.common import Page, PageParams
from api.schemas.meetings import MeetingCreate, MeetingRead, MeetingUpdate
from api.services import meetings as service
from core.models import MeetingStatus

router = APIRouter(prefix="/meetings", tags=["meetings"])


@router.get("", response_model=Page[MeetingRead])
async def list_meetings(
    session: SessionDep,
    user: CurrentUser,
    page: Annotated[PageParams, Query()],
    project_id: uuid.UUID | None = None,
    status_: Annotated[MeetingStatus | None, Query(alias="status")] = None,
    starts_after: datetime | None = None,
    starts_before: datetime | None = None,
) -> object:
    items, total = await service.list_meetings(
        session,
        actor=user,
        limit=page.limit,
        offset=page.offset,
        sort=page.sort,
        project_id=project_id,
        status=status_,
        starts_after=starts_after,
        starts_before=starts_before,
    )
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=MeetingRead)
async def create_meeting(body: MeetingCreate, session: SessionDep, user: CurrentUser) -> object:
    return await service.create_meeting(session, actor=user, data=body)


@router.get("/{meeting_id}", response_model=MeetingRead)
async def get_meeting(meeting_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> object:
    return await service.get_meeting(session, actor=user, meeting_id=meeting_id)


@router.put("/{meeting_id}", response_model=MeetingRead)
async def update_meeting(
    meeting_id: uuid.UUID, body: MeetingUpdate, session: SessionDep, user: CurrentUser
) -> object:
    return await service.update_meeting(session, actor=user, meeting_id=meeting_id, data=body)


@router.delete("/{meeting_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_meeting(meeting_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> None:
    await service.delete_meeting(session, actor=user, meeting_id=meeting_id)
