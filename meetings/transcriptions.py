"""Transcriptions as users handle them: uploads of recordings and transcripts (validated before anything
is kept), listing, and asking for a new summary. The work itself is meetings/pipeline.py's job."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

import sqlalchemy as sa
from arq.connections import ArqRedis
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from core.audio import AudioError, probe_audio
from core.crud import fetch_page
from core.errors import Conflict, Invalid, PayloadTooLarge, UnsupportedMediaType
from core.feed import FeedEvent, publish_after_commit
from core.models import Meeting, ProcessingStatus, Transcription, TranscriptionStage
from core.outbox import after_commit
from core.settings import Settings
from core.uploads import RECORDING_AVAILABLE, recording_path, recording_url
from meetings.pipeline import enqueue_transcription
from meetings.transcripts import TranscriptFormatError, parse_transcript, sniff_transcript

MAX_TRANSCRIPT_BYTES = 20 * 1024 * 1024
# Writes the uploaded file to the path it is given, refusing more than `limit` bytes; returns its size.
Receive = Callable[[Path, int], Awaitable[int]]


async def accept_upload(
    session: AsyncSession,
    redis: ArqRedis,
    settings: Settings,
    *,
    meeting: Meeting,
    receive: Receive,
    language: str | None,
) -> Transcription:
    """Accept audio/video (checked by content, size and duration) or a WebVTT/SRT/JSON transcript; the
    pipeline job is enqueued once the request commits. A recording becomes the meeting's, played from
    its `recording_url`."""
    transcription_id = uuid.uuid4()
    target = recording_path(settings, meeting.id, transcription_id)
    try:
        size = await receive(target, settings.http.max_upload_bytes)
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
            row.stage = TranscriptionStage.QUEUED
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
    if row.audio_path is not None:
        meeting.recording_url, meeting.recording_status = recording_url(meeting.id), RECORDING_AVAILABLE
    after_commit(session, lambda: enqueue_transcription(redis, transcription_id, attempts=0))
    _announce_queued(session, redis, meeting.project_id, row)
    return row


def _announce_queued(
    session: AsyncSession, redis: ArqRedis, project_id: uuid.UUID, row: Transcription
) -> None:
    publish_after_commit(
        session,
        redis,
        project_id,
        FeedEvent.TRANSCRIPTION_QUEUED,
        meeting_id=row.meeting_id,
        transcription_id=row.id,
        source_kind=row.source_kind,
    )


async def list_transcriptions(
    session: AsyncSession,
    *,
    scope: sa.Select[tuple[uuid.UUID]] | list[uuid.UUID] | None,
    limit: int,
    offset: int,
    meeting_id: uuid.UUID | None,
    status: ProcessingStatus | None,
) -> tuple[list[Transcription], int]:
    """Transcriptions of the meetings of the projects in `scope` (api.access.project_scope; None: all)."""
    query = sa.select(Transcription).join(Meeting, Meeting.id == Transcription.meeting_id)
    if scope is not None:
        query = query.where(Meeting.project_id.in_(scope))
    if meeting_id is not None:
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


async def regenerate_summary(session: AsyncSession, redis: ArqRedis, *, row: Transcription) -> Transcription:
    """Re-run only the summary of a finished transcription (e.g. after a prompt change)."""
    transcription_id = row.id
    if row.processing_status in (ProcessingStatus.PENDING, ProcessingStatus.PROCESSING):
        raise Conflict("the transcription is still being processed", code="transcription_in_progress")
    if not row.segments:
        raise Conflict("there is no transcript to summarise", code="no_transcript")
    row.processing_status = ProcessingStatus.PROCESSING
    row.stage = TranscriptionStage.SUMMARISING
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
    project_id = await session.scalar(sa.select(Meeting.project_id).where(Meeting.id == row.meeting_id))
    if project_id is not None:
        _announce_queued(session, redis, project_id, row)
    return row
