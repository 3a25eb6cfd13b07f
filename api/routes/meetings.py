"""Meetings: CRUD, joining and leaving their Jitsi rooms, attendance, and Jitsi webhooks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, status

from api.deps import CurrentUser, SessionDep, SettingsDep
from api.schemas.common import Page, PageParams
from api.schemas.meetings import (
    AttendanceRead,
    MeetingCreate,
    MeetingJoinRead,
    MeetingLeaveRead,
    MeetingRead,
    MeetingUpdate,
    WebhookAck,
)
from api.services import jitsi as jitsi_service
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
async def delete_meeting(
    meeting_id: uuid.UUID, session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> None:
    await service.delete_meeting(session, actor=user, meeting_id=meeting_id, settings=settings)


@router.post(
    "/webhooks/jitsi",
    response_model=WebhookAck,
    responses={400: {"description": "body is not a JSON event"}, 401: {"description": "bad signature"}},
)
async def jitsi_webhook(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    signature: Annotated[str | None, Header(alias="X-Jaas-Signature")] = None,
) -> object:
    """Jitsi-as-a-Service events. No bearer token: the request is authenticated by its signature.

    `X-Jaas-Signature: t=<unix seconds>,v1=<signature>` where the signature is HMAC-SHA256, keyed with
    `V1TR0_JITSI__WEBHOOK_SECRET`, of the bytes `f"{t}.{raw body}"`, as hex or base64 (JaaS sends
    base64); several `v1=` entries may be given (one must match), other schemes are ignored. A timestamp
    more than `V1TR0_JITSI__WEBHOOK_TOLERANCE` seconds (default 300) from now is rejected. Any failure,
    or no secret configured, is a 401.

    Each event (id: `idempotencyKey`, else `id`) is applied once: a replay answers `duplicate`.
    RECORDING_UPLOADED and TRANSCRIPTION_UPLOADED for a room (`fqn` "<app id>/<room>", or `room`) mark
    the meeting's recording or transcript available, with the link in `data.preAuthenticatedLink`.
    Other events and unknown rooms answer `ignored` (a 2xx, so that the provider does not retry)."""
    outcome = await jitsi_service.handle_jitsi_webhook(
        session, config=settings.jitsi, body=await request.body(), signature=signature
    )
    return WebhookAck(status=outcome.value)


@router.post("/{meeting_id}/join", response_model=MeetingJoinRead)
async def join_meeting(
    meeting_id: uuid.UUID, session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> object:
    """Any project member may join: the room URL, a Jitsi JWT when configured (moderator for the
    project's owners and editors), and the participation recorded. Starts a scheduled meeting."""
    return await service.join_meeting(session, actor=user, meeting_id=meeting_id, jitsi=settings.jitsi)


@router.post("/{meeting_id}/leave", response_model=MeetingLeaveRead)
async def leave_meeting(meeting_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> object:
    """Record the caller's leave; the last one out completes a meeting in progress."""
    return await service.leave_meeting(session, actor=user, meeting_id=meeting_id)


@router.get("/{meeting_id}/attendance", response_model=list[AttendanceRead])
async def meeting_attendance(meeting_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> object:
    return await service.meeting_attendance(session, actor=user, meeting_id=meeting_id)
