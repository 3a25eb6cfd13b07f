"""Transcription and commitment bodies."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import Field

from api.schemas.common import Output, StrictInput
from core.models import CommitmentStatus, ProcessingStatus


class TranscriptionAccepted(Output):
    id: uuid.UUID
    meeting_id: uuid.UUID
    source_kind: str = Field(description="audio, vtt, srt or json")
    processing_status: ProcessingStatus
    stage: str
    duration_seconds: float | None
    segments: int = Field(description="segments already known (imported transcripts)")


class TranscriptionSummary(Output):
    id: uuid.UUID
    meeting_id: uuid.UUID
    source_kind: str
    language: str | None
    duration_seconds: float | None
    processing_status: ProcessingStatus
    stage: str
    progress: int
    error: str | None
    provider: str | None
    model: str | None
    created_at: datetime
    updated_at: datetime


class TranscriptionRead(TranscriptionSummary):
    transcript_text: str
    segments: list[dict[str, Any]]
    summary: str | None
    key_points: list[Any]
    decisions: list[Any]
    commitments: list[Any]
    next_steps: list[Any]
    confidence_score: float | None
    summary_provider: str | None
    summary_model: str | None
    prompt_name: str | None
    prompt_version: str | None


class CommitmentRead(Output):
    id: uuid.UUID
    project_id: uuid.UUID
    meeting_id: uuid.UUID | None
    transcription_id: uuid.UUID | None
    owner_name: str | None
    owner_user_id: uuid.UUID | None
    task: str
    due_date: date | None
    status: CommitmentStatus
    overdue: bool
    source_segments: list[Any]
    evidence: dict[str, Any]
    created_at: datetime
    updated_at: datetime


class CommitmentUpdate(StrictInput):
    status: CommitmentStatus
