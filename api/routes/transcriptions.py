"""Transcriptions: upload a recording or a transcript, follow its status, ask for a new summary."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile, status

from api import limits
from api.access import project_scope, require_meeting, require_transcription
from api.deps import CurrentUser, RedisDep, ResourcesDep, SessionDep
from api.limits import Budget
from api.schemas.common import Page, PageParams
from api.schemas.transcriptions import TranscriptionAccepted, TranscriptionRead, TranscriptionSummary
from core.errors import PayloadTooLarge
from core.models import MemberRole, ProcessingStatus, Transcription
from meetings import transcriptions as service

router = APIRouter(prefix="/transcriptions", tags=["transcriptions"])

COPY_CHUNK = 1024 * 1024


def receive_into(upload: UploadFile) -> service.Receive:
    """Writes the upload to a path in pieces, refusing more than `limit` bytes (413)."""

    async def receive(target: Path, limit: int) -> int:
        target.parent.mkdir(parents=True, exist_ok=True)
        size = 0
        with target.open("wb") as out:
            while chunk := await upload.read(COPY_CHUNK):
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge(f"the file exceeds {limit} bytes")
                out.write(chunk)
        return size

    return receive


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
        429: {"description": "over the uploads budget of the caller or the project; see Retry-After"},
    },
)
async def upload(
    meeting_id: uuid.UUID,
    session: SessionDep,
    resources: ResourcesDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description="audio/video, or a WebVTT/SRT/JSON transcript")],
    language: Annotated[
        str | None, Form(pattern=r"^[a-z]{2}$", description="e.g. es; default: detect")
    ] = None,
) -> object:
    """Accept a recording (type checked by content; size and duration limits) or an existing transcript.
    Processing continues in the background: follow `GET /transcriptions/{id}` or the meeting's events."""
    found = await require_meeting(session, user, meeting_id, MemberRole.EDITOR)
    await limits.spend(resources, Budget.UPLOADS, user_id=user.id, project_id=found.meeting.project_id)
    row = await service.accept_upload(
        session,
        resources.redis,
        resources.settings,
        meeting=found.meeting,
        receive=receive_into(file),
        language=language,
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
    scope = await project_scope(session, user, project_id)
    if meeting_id is not None:
        await require_meeting(session, user, meeting_id)
    items, total = await service.list_transcriptions(
        session, scope=scope, limit=page.limit, offset=page.offset, meeting_id=meeting_id, status=status_
    )
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{transcription_id}", response_model=TranscriptionRead)
async def get_transcription(transcription_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> object:
    """Status, progress, segments, summary, key points, decisions, commitments and next steps."""
    return await require_transcription(session, user, transcription_id)


@router.post(
    "/{transcription_id}/regenerate-summary",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TranscriptionSummary,
)
async def regenerate_summary(
    transcription_id: uuid.UUID, session: SessionDep, redis: RedisDep, user: CurrentUser
) -> object:
    """Re-run only the summary (e.g. after a prompt change); the new prompt version is recorded."""
    row = await require_transcription(session, user, transcription_id, MemberRole.EDITOR)
    return await service.regenerate_summary(session, redis, row=row)
