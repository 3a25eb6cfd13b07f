"""Meetings: CRUD, joining and leaving their Jitsi rooms, attendance, and Jitsi webhooks."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Header, Query, Request, Response, status
from sse_starlette import EventSourceResponse

from api.access import require_meeting, require_project
from api.deps import CurrentUser, ReaderDep, ResourcesDep, SessionDep, SettingsDep
from api.responses import JsonBytes
from api.routing import ApiRouter
from api.schemas.common import Page
from api.schemas.meetings import (
    AttendanceRead,
    MeetingCreate,
    MeetingJoinRead,
    MeetingLeaveRead,
    MeetingListQuery,
    MeetingRead,
    MeetingUpdate,
    WebhookAck,
)
from api.services import reads
from api.streams import (
    STREAM_TOKEN_TTL,
    Credentials,
    Stream,
    StreamTokenParam,
    mint_stream_token,
    stream_user,
)
from core.events import meeting_channel
from core.models import MemberRole, Transcription
from meetings import service, webhooks

router = ApiRouter(prefix="/meetings", tags=["meetings"])


# The hot reads first: FastAPI tries a router's routes in order, twice per request, at a few µs each.
@router.get("", response_model=Page[MeetingRead])
async def list_meetings(reader: ReaderDep, query: Annotated[MeetingListQuery, Query()]) -> Response:
    return JsonBytes(await reads.list_meetings(reader, query))


@router.get("/{meeting_id}", response_model=MeetingRead)
async def get_meeting(meeting_id: uuid.UUID, reader: ReaderDep) -> Response:
    return JsonBytes(await reads.read_meeting(reader, meeting_id=meeting_id))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=MeetingRead)
async def create_meeting(body: MeetingCreate, session: SessionDep, user: CurrentUser) -> object:
    await require_project(session, user, body.project_id, MemberRole.EDITOR)
    return await service.create_meeting(
        session, creator_id=user.id, fields=body.model_dump(exclude_none=True)
    )


@router.put("/{meeting_id}", response_model=MeetingRead)
async def update_meeting(
    meeting_id: uuid.UUID, body: MeetingUpdate, session: SessionDep, user: CurrentUser
) -> object:
    found = await require_meeting(session, user, meeting_id, MemberRole.EDITOR)
    return await service.update_meeting(
        session, meeting=found.meeting, changes=body.model_dump(exclude_unset=True)
    )


@router.delete("/{meeting_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_meeting(
    meeting_id: uuid.UUID, session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> None:
    found = await require_meeting(session, user, meeting_id, MemberRole.EDITOR)
    await service.delete_meeting(session, meeting=found.meeting, settings=settings)


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
    outcome = await webhooks.handle_jitsi_webhook(
        session, config=settings.jitsi, body=await request.body(), signature=signature
    )
    return WebhookAck(status=outcome.value)


@router.post("/{meeting_id}/join", response_model=MeetingJoinRead)
async def join_meeting(
    meeting_id: uuid.UUID, session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> object:
    """Any project member may join: the room URL, a Jitsi JWT when configured (moderator for the
    project's owners and editors), and the participation recorded. Starts a scheduled meeting."""
    found = await require_meeting(session, user, meeting_id, for_update=True)
    return await service.join_meeting(
        session,
        meeting=found.meeting,
        actor=user,
        moderator=found.access.can(MemberRole.EDITOR),
        jitsi=settings.jitsi,
    )


@router.post("/{meeting_id}/leave", response_model=MeetingLeaveRead)
async def leave_meeting(meeting_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> object:
    """Record the caller's leave; the last one out completes a meeting in progress."""
    found = await require_meeting(session, user, meeting_id, for_update=True)
    return await service.leave_meeting(session, meeting=found.meeting, actor=user)


@router.get("/{meeting_id}/attendance", response_model=list[AttendanceRead])
async def meeting_attendance(meeting_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> object:
    await require_meeting(session, user, meeting_id)
    return await service.meeting_attendance(session, meeting_id=meeting_id)


@router.post("/{meeting_id}/events/token")
async def events_token(
    meeting_id: uuid.UUID, session: SessionDep, resources: ResourcesDep, user: CurrentUser
) -> dict[str, Any]:
    """A short-lived token for `GET /meetings/{id}/events?token=` (EventSource cannot send headers)."""
    await require_meeting(session, user, meeting_id)
    token = mint_stream_token(resources, user=user, stream=Stream.MEETING_EVENTS, subject=meeting_id)
    return {"token": token, "expires_in": STREAM_TOKEN_TTL}


@router.get(
    "/{meeting_id}/events",
    response_class=EventSourceResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def meeting_events(
    meeting_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    resources: ResourcesDep,
    credentials: Credentials,
    token: StreamTokenParam = None,
) -> EventSourceResponse:
    """The meeting's transcription progress as Server-Sent Events: `status` (current state) first, then
    queued, transcribing (percent), summarising, summarised, indexed, failed (with the reason)."""
    user = await stream_user(
        request, session, resources, credentials, token, stream=Stream.MEETING_EVENTS, subject=meeting_id
    )
    await require_meeting(session, user, meeting_id)
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
