"""Uploads of recordings and transcripts, their processing status, summaries and the commitment ledger."""

from __future__ import annotations

import asyncio
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from arq.connections import ArqRedis
from fastapi import UploadFile
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.access import require_project, visible_project_ids
from api.services.listing import fetch_page
from api.services.meetings import get_meeting
from core.audio import AudioError, probe_audio
from core.errors import Conflict, Invalid, NotFound, PayloadTooLarge, UnsupportedMediaType
from core.models import (
    Commitment,
    CommitmentStatus,
    Meeting,
    MemberRole,
    ProcessingStatus,
    Transcription,
    User,
)
from core.outbox import after_commit
from core.settings import Settings
from core.uploads import recording_path
from ingestion.transcription import enqueue_transcription
from ingestion.transcripts import TranscriptFormatError, parse_transcript, sniff_transcript

COPY_CHUNK = 1024 * 1024
MAX_TRANSCRIPT_BYTES = 20 * 1024 * 1024


async def _save_upload(upload: UploadFile, target: Path, *, limit: int) -> int:
    target.parent.mkdir(parents=True, exist_ok=True)
    size = 0
    with target.open("wb") as out:
        while chunk := await upload.read(COPY_CHUNK):
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"the file exceeds {limit} bytes")
            out.write(chunk)
    return size


async def upload(
    session: AsyncSession,
    redis: ArqRedis,
    settings: Settings,
    *,
    actor: User,
    meeting_id: uuid.UUID,
    file: UploadFile,
    language: str | None,
) -> Transcription:
    """Accept audio/video (checked by content, size and duration) or a WebVTT/SRT/JSON transcript."""
    meeting = await get_meeting(session, actor=actor, meeting_id=meeting_id, need=MemberRole.EDITOR)
    transcription_id = uuid.uuid4()
    target = recording_path(settings, meeting.id, transcription_id)
    try:
        size = await _save_upload(file, target, limit=settings.http.max_upload_bytes)
        if size == 0:
            raise Invalid("the file is empty", code="empty_file")
        with target.open("rb") as handle:
            head = handle.read(4096)
        kind = sniff_transcript(head)
        row = Transcription(id=transcription_id, meeting_id=meeting.id, language=language)
        if kind is not None:
            if size > MAX_TRANSCRIPT_BYTES:
                raise PayloadTooLarge(f"transcript files are limited to {MAX_TRANSCRIPT_BYTES} bytes")
            try:
                segments = parse_transcript(kind, target.read_bytes())
            except TranscriptFormatError as exc:
                raise Invalid(str(exc), code="invalid_transcript", details={"line": exc.line}) from None
            target.unlink()
            row.source_kind = kind
            row.segments = segments
            row.transcript_text = "\n".join(segment["text"] for segment in segments)
            row.duration_seconds = max(float(segment["end"]) for segment in segments)
            row.stage = "queued"
        else:
            try:
                info = await asyncio.to_thread(probe_audio, target)
            except AudioError as exc:
                raise UnsupportedMediaType(
                    f"{exc}; upload audio/video or a .vtt, .srt or JSON transcript", code="unsupported_media"
                ) from None
            if info.duration > settings.transcription.max_audio_seconds:
                raise Invalid(
                    f"the recording lasts {info.duration:.0f} s; the limit is "
                    f"{settings.transcription.max_audio_seconds} s",
                    code="audio_too_long",
                )
            row.source_kind = "audio"
            row.audio_path = str(target)
            row.audio_mime = f"{info.container}/{info.codec}"
            row.duration_seconds = info.duration
        try:
            async with session.begin_nested():
                session.add(row)
                await session.flush()
        except IntegrityError:
            raise Conflict(
                "this meeting already has a transcription in progress; wait for it to finish",
                code="transcription_in_progress",
            ) from None
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    after_commit(session, lambda: enqueue_transcription(redis, transcription_id, attempts=0))
    return row


async def get_transcription(
    session: AsyncSession, *, actor: User, transcription_id: uuid.UUID, need: MemberRole = MemberRole.VIEWER
) -> Transcription:
    row = await session.get(Transcription, transcription_id)
    if row is None:
        raise NotFound("transcription not found")
    meeting = await session.get(Meeting, row.meeting_id)
    if meeting is None:
        raise NotFound("transcription not found")
    await require_project(session, actor, meeting.project_id, need, what="transcription")
    return row


async def list_transcriptions(
    session: AsyncSession,
    *,
    actor: User,
    limit: int,
    offset: int,
    meeting_id: uuid.UUID | None,
    project_id: uuid.UUID | None,
    status: ProcessingStatus | None,
) -> tuple[list[Transcription], int]:
    query = sa.select(Transcription).join(Meeting, Meeting.id == Transcription.meeting_id)
    if project_id is not None:
        await require_project(session, actor, project_id)
        query = query.where(Meeting.project_id == project_id)
    elif not actor.is_admin:
        query = query.where(Meeting.project_id.in_(visible_project_ids(actor)))
    if meeting_id is not None:
        await get_meeting(session, actor=actor, meeting_id=meeting_id)
        query = query.where(Transcription.meeting_id == meeting_id)
    if status is not None:
        query = query.where(Transcription.processing_status == status)
    return await fetch_page(
        session,
        query,
        limit=limit,
        offset=offset,
        ordering=[Transcription.created_at.desc(), Transcription.id],
    )


async def regenerate_summary(
    session: AsyncSession, redis: ArqRedis, *, actor: User, transcription_id: uuid.UUID
) -> Transcription:
    row = await get_transcription(
        session, actor=actor, transcription_id=transcription_id, need=MemberRole.EDITOR
    )
    if row.processing_status in (ProcessingStatus.PENDING, ProcessingStatus.PROCESSING):
        raise Conflict("the transcription is still being processed", code="transcription_in_progress")
    if not row.segments:
        raise Conflict("there is no transcript to summarise", code="no_transcript")
    row.processing_status = ProcessingStatus.PROCESSING
    row.stage = "summarising"
    row.error = None
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(
            "another transcription of this meeting is in progress", code="transcription_in_progress"
        ) from None
    attempts = row.attempts
    after_commit(
        session, lambda: enqueue_transcription(redis, transcription_id, attempts=attempts, summary_only=True)
    )
    return row


def commitment_payload(row: Commitment) -> dict[str, Any]:
    today = date.today()
    data = {
        column: getattr(row, column)
        for column in (
            "id",
            "project_id",
            "meeting_id",
            "transcription_id",
            "owner_name",
            "owner_user_id",
            "task",
            "due_date",
            "status",
            "source_segments",
            "evidence",
            "created_at",
            "updated_at",
        )
    }
    data["overdue"] = bool(row.status == CommitmentStatus.OPEN and row.due_date and row.due_date < today)
    return data


async def list_commitments(
    session: AsyncSession,
    *,
    actor: User,
    project_id: uuid.UUID,
    status: CommitmentStatus | None,
    owner: str | None,
    overdue: bool | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
    await require_project(session, actor, project_id)
    query = sa.select(Commitment).where(Commitment.project_id == project_id)
    if status is not None:
        query = query.where(Commitment.status == status)
    if owner:
        try:
            query = query.where(Commitment.owner_user_id == uuid.UUID(owner))
        except ValueError:
            escaped = owner.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            query = query.where(Commitment.owner_name.ilike(f"%{escaped}%", escape="\\"))
    if overdue is not None:
        late = sa.and_(
            Commitment.status == CommitmentStatus.OPEN, Commitment.due_date < sa.func.current_date()
        )
        query = query.where(late if overdue else sa.not_(late) | Commitment.due_date.is_(None))
    rows, total = await fetch_page(
        session,
        query,
        limit=limit,
        offset=offset,
        ordering=[Commitment.due_date.asc().nulls_last(), Commitment.created_at, Commitment.id],
    )
    return [commitment_payload(row) for row in rows], total


async def update_commitment(
    session: AsyncSession,
    *,
    actor: User,
    project_id: uuid.UUID,
    commitment_id: uuid.UUID,
    status: CommitmentStatus,
) -> dict[str, Any]:
    await require_project(session, actor, project_id, MemberRole.EDITOR)
    row = await session.scalar(
        sa.select(Commitment).where(Commitment.id == commitment_id, Commitment.project_id == project_id)
    )
    if row is None:
        raise NotFound("commitment not found")
    if row.status != status:
        row.status = status
        if status == CommitmentStatus.DONE and not row.evidence:
            row.evidence = {"marked_by": str(actor.id)}
        await session.flush()
    return commitment_payload(row)
