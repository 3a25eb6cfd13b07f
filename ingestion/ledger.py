"""The commitment ledger: commitments heard in a meeting become rows; a later meeting that says one is
done closes it, with the sentence as evidence."""

from __future__ import annotations

import unicodedata
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Commitment, CommitmentStatus, ProjectMember, Transcription, User
from core.providers.llm import content_terms
from ingestion.summarize import MeetingSummary, Segment, done_mentions

DONE_OVERLAP = 0.5


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).strip()


async def _member_by_name(session: AsyncSession, project_id: uuid.UUID) -> dict[str, uuid.UUID]:
    """Folded full names and first names of the project's members (a first name shared by two is dropped)."""
    rows = (
        await session.execute(
            sa.select(User.id, User.full_name)
            .join(ProjectMember, ProjectMember.user_id == User.id)
            .where(ProjectMember.project_id == project_id)
        )
    ).all()
    names: dict[str, uuid.UUID] = {}
    ambiguous: set[str] = set()
    for user_id, full_name in rows:
        if not full_name:
            continue
        folded = _fold(full_name)
        names[folded] = user_id
        first = folded.split()[0]
        if first in names and names[first] != user_id:
            ambiguous.add(first)
        names.setdefault(first, user_id)
    for first in ambiguous:
        names.pop(first, None)
    return names


async def sync_ledger(
    session: AsyncSession,
    *,
    transcription: Transcription,
    project_id: uuid.UUID,
    summary: MeetingSummary,
    segments: list[Segment],
) -> dict[str, int]:
    """Make the meeting's open commitments those of this summary, and close earlier commitments the
    transcript says are done.

    A regenerated summary, or a newer transcription of the same meeting, replaces the meeting's open
    commitments; those already done or dropped stay as they are and are not added again."""
    members = await _member_by_name(session, project_id)
    await session.execute(
        sa.delete(Commitment).where(
            Commitment.meeting_id == transcription.meeting_id, Commitment.status == CommitmentStatus.OPEN
        )
    )
    settled = {
        (_fold(owner or ""), _fold(task))
        for owner, task in (
            await session.execute(
                sa.select(Commitment.owner_name, Commitment.task).where(
                    Commitment.meeting_id == transcription.meeting_id
                )
            )
        ).all()
    }
    added = 0
    for item in summary.commitments:
        owner = item.owner.strip() if item.owner else None
        if (_fold(owner or ""), _fold(item.task)) in settled:
            continue
        added += 1
        session.add(
            Commitment(
                project_id=project_id,
                meeting_id=transcription.meeting_id,
                transcription_id=transcription.id,
                owner_name=owner,
                owner_user_id=members.get(_fold(owner)) if owner else None,
                task=item.task,
                due_date=item.due,
                source_segments=item.segment_ids,
            )
        )
    closed = await close_done_commitments(
        session, transcription=transcription, project_id=project_id, segments=segments
    )
    await session.flush()
    return {"commitments": added, "closed": closed}


async def close_done_commitments(
    session: AsyncSession, *, transcription: Transcription, project_id: uuid.UUID, segments: list[Segment]
) -> int:
    mentions = done_mentions(segments)
    if not mentions:
        return 0
    open_rows = (
        await session.scalars(
            sa.select(Commitment).where(
                Commitment.project_id == project_id,
                Commitment.status == CommitmentStatus.OPEN,
                sa.or_(
                    Commitment.transcription_id.is_(None), Commitment.transcription_id != transcription.id
                ),
            )
        )
    ).all()
    closed = 0
    for row in open_rows:
        task_terms = set(content_terms(row.task))
        if not task_terms:
            continue
        for segment_id, _speaker, sentence in mentions:
            overlap = len(task_terms & set(content_terms(sentence))) / len(task_terms)
            if overlap >= DONE_OVERLAP:
                row.status = CommitmentStatus.DONE
                evidence: dict[str, Any] = {
                    "transcription_id": str(transcription.id),
                    "meeting_id": str(transcription.meeting_id),
                    "segment_ids": [segment_id],
                    "text": sentence,
                }
                row.evidence = evidence
                closed += 1
                break
    return closed
