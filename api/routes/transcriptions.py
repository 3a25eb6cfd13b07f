"""Transcriptions (upload, status, summaries), the commitment ledger, and a meeting's progress events."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import jwt
import sqlalchemy as sa
from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile, status
from fastapi.security import HTTPAuthorizationCredentials
from sse_starlette import EventSourceResponse

from api.deps import CurrentUser, RedisDep, ResourcesDep, SessionDep, SettingsDep, bearer, current_user
from api.schemas.common import Page, PageParams
from api.schemas.transcriptions import (
    CommitmentRead,
    CommitmentUpdate,
    TranscriptionAccepted,
    TranscriptionRead,
    TranscriptionSummary,
)
from api.services import transcriptions as service
from api.services.chat import STREAM_TOKEN_TTL
from api.services.meetings import get_meeting
from core.errors import Unauthorized
from core.events import meeting_channel
from core.models import CommitmentStatus, ProcessingStatus, Transcription, User
from core.security import create_access_token, decode_local_token

router = APIRouter(prefix="/transcriptions", tags=["transcriptions"])
ledger_router = APIRouter(prefix="/projects", tags=["commitments"])
events_router = APIRouter(prefix="/meetings", tags=["meetings"])

EVENTS_AUDIENCE = "v1tr0-meeting-events"


def _accepted(row: Transcription) -> dict[str, Any]:
    return {
        "id": row.id,
        "meeting_id": row.meeting_id,
        "source_kind": row.source_kind,
        "processing_status": row.processing_status,
        "stage": row.stage,
        "duration_seconds": row.duration_seconds,
        "segments": len(row.segments or []),
    }


@router.post(
    "/upload/{meeting_id}",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TranscriptionAccepted,
    responses={
        409: {"description": "a transcription of this meeting is in progress"},
        413: {"description": "file too large"},
        415: {"description": "not audio/video or a transcript"},
    },
)
async def upload(
    meeting_id: uuid.UUID,
    session: SessionDep,
    redis: RedisDep,
    settings: SettingsDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description="audio/video, or a WebVTT/SRT/JSON transcript")],
    language: Annotated[
        str | None, Form(pattern=r"^[a-z]{2}$", description="e.g. es; default: detect")
    ] = None,
) -> object:
    """Accept a recording (type checked by content; size and duration limits) or an existing transcript.
    Processing continues in the background: follow `GET /transcriptions/{id}` or the meeting's events."""
    row = await service.upload(
        session, redis, settings, actor=user, meeting_id=meeting_id, file=file, language=language
    )
    return _accepted(row)


@router.get("", response_model=Page[TranscriptionSummary])
async def list_transcriptions(
    session: SessionDep,
    user: CurrentUser,
    page: Annotated[PageParams, Query()],
    meeting_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
    status_: Annotated[ProcessingStatus | None, Query(alias="status")] = None,
) -> object:
    items, total = await service.list_transcriptions(
        session,
        actor=user,
        limit=page.limit,
        offset=page.offset,
        meeting_id=meeting_id,
        project_id=project_id,
        status=status_,
    )
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{transcription_id}", response_model=TranscriptionRead)
async def get_transcription(transcription_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> object:
    """Status, progress, segments, summary, key points, decisions, commitments and next steps."""
    return await service.get_transcription(session, actor=user, transcription_id=transcription_id)


@router.post(
    "/{transcription_id}/regenerate-summary",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TranscriptionSummary,
)
async def regenerate_summary(
    transcription_id: uuid.UUID, session: SessionDep, redis: RedisDep, user: CurrentUser
) -> object:
    """Re-run only the summary (e.g. after a prompt change); the new prompt version is recorded."""
    return await service.regenerate_summary(session, redis, actor=user, transcription_id=transcription_id)


@ledger_router.get("/{project_id}/commitments", response_model=Page[CommitmentRead])
async def list_commitments(
    project_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    page: Annotated[PageParams, Query()],
    status_: Annotated[CommitmentStatus | None, Query(alias="status")] = None,
    owner: Annotated[str | None, Query(max_length=200, description="a user id or part of a name")] = None,
    overdue: bool | None = None,
) -> object:
    items, total = await service.list_commitments(
        session,
        actor=user,
        project_id=project_id,
        status=status_,
        owner=owner,
        overdue=overdue,
        limit=page.limit,
        offset=page.offset,
    )
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@ledger_router.patch("/{project_id}/commitments/{commitment_id}", response_model=CommitmentRead)
async def update_commitment(
    project_id: uuid.UUID,
    commitment_id: uuid.UUID,
    body: CommitmentUpdate,
    session: SessionDep,
    user: CurrentUser,
) -> object:
    return await service.update_commitment(
        session, actor=user, project_id=project_id, commitment_id=commitment_id, status=body.status
    )


@events_router.post("/{meeting_id}/events/token")
async def events_token(
    meeting_id: uuid.UUID, session: SessionDep, resources: ResourcesDep, user: CurrentUser
) -> dict[str, Any]:
    """A short-lived token for `GET /meetings/{id}/events?token=` (EventSource cannot send headers)."""
    await get_meeting(session, actor=user, meeting_id=meeting_id)
    token = create_access_token(
        user_id=user.id,
        secret=resources.settings.token_secret(),
        ttl_seconds=STREAM_TOKEN_TTL,
        extra={"aud": EVENTS_AUDIENCE, "typ": "stream", "msg": str(meeting_id)},
    )
    return {"token": token, "expires_in": STREAM_TOKEN_TTL}


@events_router.get(
    "/{meeting_id}/events",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def meeting_events(
    meeting_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    resources: ResourcesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    token: Annotated[str | None, Query(max_length=2000)] = None,
) -> EventSourceResponse:
    """The meeting's transcription progress as Server-Sent Events: `status` (current state) first, then
    queued, transcribing (percent), summarising, summarised, indexed, failed (with the reason)."""
    if token:
        try:
            claims = decode_local_token(
                token, secret=resources.settings.token_secret(), audience=EVENTS_AUDIENCE
            )
        except jwt.InvalidTokenError:
            raise Unauthorized("invalid or expired events token") from None
        if claims.get("msg") != str(meeting_id):
            raise Unauthorized("this token is for another meeting")
        user = await session.get(User, uuid.UUID(claims["sub"]))
        if user is None or not user.is_active:
            raise Unauthorized("unknown user")
    else:
        user = await current_user(request, session, resources, credentials)
    await get_meeting(session, actor=user, meeting_id=meeting_id)
    latest = await session.scalar(
        sa.select(Transcription)
        .where(Transcription.meeting_id == meeting_id)
        .order_by(Transcription.created_at.desc())
    )
    current = (
        {
            "transcription_id": str(latest.id),
            "status": latest.processing_status.value,
            "stage": latest.stage,
            "percent": latest.progress,
            "error": latest.error,
        }
        if latest
        else {"status": "none"}
    )

    async def events() -> AsyncIterator[dict[str, str]]:
        pubsub = resources.redis.pubsub()
        await pubsub.subscribe(meeting_channel(meeting_id))
        try:
            yield {"event": "status", "data": json.dumps(current)}
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                if message is None:
                    continue
                payload = json.loads(message["data"])
                yield {"event": payload.pop("event", "message"), "data": json.dumps(payload)}
        finally:
            await pubsub.unsubscribe()
            await pubsub.aclose()  # type: ignore[no-untyped-call]

    return EventSourceResponse(events(), ping=15)
