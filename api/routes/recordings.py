"""A meeting's recording, streamed to its members with HTTP Range (a browser's audio player seeks in it)."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import StreamingResponse

from api.access import require_meeting
from api.deps import CurrentUser, ResourcesDep, SessionDep
from api.ranges import file_response
from api.schemas.streams import StreamLink
from api.services import recordings as service
from api.streams import (
    Credentials,
    Stream,
    StreamTokenParam,
    mint_stream_token,
    stream_token_ttl,
    stream_user,
)
from core.uploads import recording_url

router = APIRouter(prefix="/meetings", tags=["meetings"])

AUDIO: dict[str, Any] = {"audio/*": {"schema": {"type": "string", "format": "binary"}}}


@router.post("/{meeting_id}/recording/token", response_model=StreamLink)
async def recording_link(
    meeting_id: uuid.UUID, session: SessionDep, resources: ResourcesDep, user: CurrentUser
) -> object:
    """A URL of the recording for an `<audio>` element (which cannot send headers); its token opens this
    recording only, for as long as an access token lasts (the player keeps asking for ranges)."""
    await require_meeting(session, user, meeting_id)
    await service.find_recording(session, resources.settings, meeting_id=meeting_id)
    token = mint_stream_token(resources, user=user, stream=Stream.RECORDING, subject=meeting_id)
    return {
        "url": f"{recording_url(meeting_id)}?token={token}",
        "token": token,
        "expires_in": stream_token_ttl(resources, Stream.RECORDING),
    }


@router.get(
    "/{meeting_id}/recording",
    response_class=StreamingResponse,
    responses={
        200: {"content": AUDIO, "description": "the whole recording"},
        206: {"content": AUDIO, "description": "the bytes of the `Range` asked for (`Content-Range`)"},
        416: {"description": "the range starts past the end (`Content-Range: bytes */size`)"},
    },
)
async def recording(
    meeting_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    resources: ResourcesDep,
    credentials: Credentials,
    token: StreamTokenParam = None,
) -> StreamingResponse:
    """The meeting's newest uploaded recording, for its project's members (404 for everyone else, as for
    a meeting without one). Honours `Range` (one range; `Accept-Ranges: bytes`) and `If-Range`."""
    user = await stream_user(
        request, session, resources, credentials, token, stream=Stream.RECORDING, subject=meeting_id
    )
    await require_meeting(session, user, meeting_id)
    stored = await service.find_recording(session, resources.settings, meeting_id=meeting_id)
    return file_response(
        stored, range_header=request.headers.get("range"), if_range=request.headers.get("if-range")
    )
