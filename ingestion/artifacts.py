"""Re-reading an artifact by id and turning it into chunk drafts (jobs take ids, never objects)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import (
    ChatMessage,
    ChatStatus,
    Commitment,
    Document,
    Meeting,
    Project,
    SourceType,
    Transcription,
)
from core.settings import IngestionSettings
from ingestion.chunkers import ChunkDraft, chunk_chat_turn, chunk_items, chunk_prose, chunk_transcript

# The chunk source types one artifact owns: its chunks are replaced (or deleted) together.
OWNED_TYPES: dict[SourceType, tuple[SourceType, ...]] = {
    SourceType.PROJECT: (SourceType.PROJECT,),
    SourceType.DOCUMENT: (SourceType.DOCUMENT,),
    SourceType.MEETING: (SourceType.MEETING,),
    SourceType.TRANSCRIPT: (
        SourceType.TRANSCRIPT,
        SourceType.SUMMARY,
        SourceType.KEY_POINTS,
        SourceType.COMMITMENTS,
    ),
    SourceType.SUMMARY: (SourceType.SUMMARY, SourceType.KEY_POINTS, SourceType.COMMITMENTS),
    SourceType.KEY_POINTS: (SourceType.KEY_POINTS,),
    SourceType.COMMITMENTS: (SourceType.COMMITMENTS,),
    SourceType.CHAT: (SourceType.CHAT,),
}


@dataclass(frozen=True)
class Artifact:
    project_id: uuid.UUID
    drafts: list[ChunkDraft]


def _date(value: object) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else "—"


async def load_artifact(
    session: AsyncSession, source_type: SourceType, source_id: uuid.UUID, config: IngestionSettings
) -> Artifact | None:
    """The artifact's current chunks, or None when it no longer exists.

    Chunking is CPU-bound (seconds for a large document), so it runs in a thread: meanwhile the worker's
    other jobs, its outbox sweep and its heartbeat go on."""
    source = await _read(session, source_type, source_id, config)
    if source is None:
        return None
    project_id, make_drafts = source
    return Artifact(project_id, await asyncio.to_thread(make_drafts))


Drafts = Callable[[], list[ChunkDraft]]


async def _read(
    session: AsyncSession, source_type: SourceType, source_id: uuid.UUID, config: IngestionSettings
) -> tuple[uuid.UUID, Drafts] | None:
    """The artifact's project and how to chunk it (plain values only: the chunking runs in a thread)."""
    prose = partial(chunk_prose, max_tokens=config.chunk_tokens, overlap=config.chunk_overlap)
    if source_type == SourceType.PROJECT:
        project = await session.get(Project, source_id)
        if project is None:
            return None
        facts = (
            f"Estado: {project.status.value}. Progreso: {project.progress}%. "
            f"Prioridad: {project.priority.value}. "
            f"Inicio: {_date(project.start_date)}. Fin: {_date(project.end_date)}. "
            f"Fecha límite: {_date(project.deadline)}."
        )
        text = f"{facts}\n\n{project.description}"
        return project.id, partial(
            prose, text, source_type=source_type, title=project.title, context="Proyecto"
        )
    if source_type == SourceType.DOCUMENT:
        document = await session.get(Document, source_id)
        if document is None:
            return None
        return document.project_id, partial(
            prose,
            document.content,
            source_type=source_type,
            title=document.title,
            context="Documento",
            meta={"filename": document.source_filename},
        )
    if source_type == SourceType.MEETING:
        meeting = await session.get(Meeting, source_id)
        if meeting is None:
            return None
        text = (
            f"Reunión «{meeting.title}». Estado: {meeting.status.value}. "
            f"Inicio: {_date(meeting.start_time)}. Fin: {_date(meeting.end_time)}.\n\n{meeting.description}"
        )
        return meeting.project_id, partial(
            prose,
            text,
            source_type=source_type,
            title=meeting.title,
            context="Reunión",
            meta={"meeting_id": str(meeting.id)},
        )
    if source_type in TRANSCRIPTION_TYPES:
        return await _read_transcription(session, source_type, source_id, config)
    if source_type == SourceType.CHAT:
        message = await session.get(ChatMessage, source_id)
        if message is None or message.processing_status != ChatStatus.COMPLETED:
            return None
        return message.project_id, partial(
            chunk_chat_turn,
            message.message,
            message.ai_response,
            max_tokens=config.chunk_tokens,
            overlap=config.chunk_overlap,
            meta={"conversation_id": str(message.conversation_id)},
        )
    raise ValueError(f"unknown source type {source_type}")


TRANSCRIPTION_TYPES = frozenset(
    {SourceType.TRANSCRIPT, SourceType.SUMMARY, SourceType.KEY_POINTS, SourceType.COMMITMENTS}
)


async def _read_transcription(
    session: AsyncSession, source_type: SourceType, source_id: uuid.UUID, config: IngestionSettings
) -> tuple[uuid.UUID, Drafts] | None:
    transcription = await session.get(Transcription, source_id)
    if transcription is None:
        return None
    meeting = await session.get(Meeting, transcription.meeting_id)
    if meeting is None:
        return None
    return meeting.project_id, partial(
        _transcription_drafts,
        with_transcript=source_type == SourceType.TRANSCRIPT,
        segments=list(transcription.segments),
        summary=transcription.summary,
        items=[
            ("Punto clave", list(transcription.key_points)),
            ("Decisión", list(transcription.decisions)),
            ("Próximo paso", list(transcription.next_steps)),
        ],
        commitments=await _ledger_items(session, transcription),
        meeting_id=str(meeting.id),
        title=meeting.title,
        common={
            "meeting_id": str(meeting.id),
            "transcription_id": str(transcription.id),
            # The meeting's date: search's date filters, and answers that span meetings read in order.
            "date": (meeting.start_time or transcription.created_at).isoformat(),
        },
        config=config,
    )


async def _ledger_items(session: AsyncSession, transcription: Transcription) -> list[Any]:
    """The transcription's commitments as the ledger has them now (status, evidence of being done), each
    with the time of the segments that said it; the summary's own list when the ledger has none yet."""
    rows = (
        await session.scalars(
            sa.select(Commitment)
            .where(Commitment.transcription_id == transcription.id)
            .order_by(Commitment.created_at, Commitment.id)
        )
    ).all()
    if not rows:
        return list(transcription.commitments)
    segments = list(transcription.segments or [])
    items = []
    for row in rows:
        ids = [i for i in row.source_segments if isinstance(i, int) and 0 <= i < len(segments)]
        item: dict[str, Any] = {
            "task": row.task,
            "owner": row.owner_name,
            "due": row.due_date.isoformat() if row.due_date else None,
            "status": row.status.value,
            "evidence": (row.evidence or {}).get("text"),
            "segment_ids": ids,
        }
        if ids:
            item["start"] = float(segments[min(ids)].get("start") or 0)
            item["end"] = float(segments[max(ids)].get("end") or item["start"])
        items.append(item)
    return items


def _transcription_drafts(
    *,
    with_transcript: bool,
    segments: list[dict[str, Any]],
    summary: str | None,
    items: list[tuple[str, list[Any]]],
    commitments: list[Any],
    meeting_id: str,
    title: str,
    common: dict[str, Any],
    config: IngestionSettings,
) -> list[ChunkDraft]:
    drafts: list[ChunkDraft] = []
    if with_transcript:
        # Small units (a few segments): what is ranked and cited; the answerer gets their neighbours
        # as context (retrieval/windows.py).
        drafts += chunk_transcript(
            segments,
            meeting_id=meeting_id,
            meeting_title=title,
            max_tokens=config.transcript_unit_tokens,
            overlap_segments=0,
            meta=common,
        )
    if summary:
        drafts += chunk_prose(
            summary,
            source_type=SourceType.SUMMARY,
            title=title,
            context="Resumen",
            max_tokens=config.chunk_tokens,
            overlap=config.chunk_overlap,
            meta=common,
        )
    for label, entries in items:
        drafts += chunk_items(
            entries,
            source_type=SourceType.KEY_POINTS,
            label=label,
            meeting_id=meeting_id,
            meeting_title=title,
            max_tokens=config.chunk_tokens,
            meta={**common, "kind": label},
        )
    drafts += chunk_items(
        commitments,
        source_type=SourceType.COMMITMENTS,
        label="Compromiso",
        meeting_id=meeting_id,
        meeting_title=title,
        max_tokens=config.chunk_tokens,
        meta=common,
    )
    # Chunk indexes are per source type (the unique key is model, type, id, index).
    counters: dict[SourceType, int] = {}
    numbered = []
    for draft in drafts:
        index = counters.get(draft.source_type, 0)
        counters[draft.source_type] = index + 1
        numbered.append(ChunkDraft(draft.source_type, index, draft.content, draft.meta, draft.lang))
    return numbered
