"""The commitment ledger: commitments heard in a meeting become rows; a later meeting that says one is
done closes it, with the sentence as evidence. Users list the ledger (open, overdue, by owner) and mark
commitments done."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.crud import fetch_page
from core.errors import NotFound
from core.feed import FeedEvent, publish_after_commit
from core.models import Commitment, CommitmentStatus, ProjectMember, SourceType, Transcription, User
from core.outbox import record_change
from core.text import content_terms, fold
from meetings.commitments import done_mentions
from meetings.schemas import MeetingSummary, Segment

DONE_OVERLAP = 0.5


def _fold(text: str) -> str:
    return fold(text).strip()


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


@dataclass
class LedgerChanges:
    """What a summary did to the ledger: the commitments it added and those it closed."""

    created: list[Commitment] = field(default_factory=list)
    closed: list[Commitment] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        return {"commitments": len(self.created), "closed": len(self.closed)}


async def sync_ledger(
    session: AsyncSession,
    *,
    transcription: Transcription,
    project_id: uuid.UUID,
    summary: MeetingSummary,
    segments: list[Segment],
) -> LedgerChanges:
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
    changes = LedgerChanges()
    for item in summary.commitments:
        owner = item.owner.strip() if item.owner else None
        if (_fold(owner or ""), _fold(item.task)) in settled:
            continue
        row = Commitment(
            project_id=project_id,
            meeting_id=transcription.meeting_id,
            transcription_id=transcription.id,
            owner_name=owner,
            owner_user_id=members.get(_fold(owner)) if owner else None,
            task=item.task,
            due_date=item.due,
            source_segments=item.segment_ids,
        )
        session.add(row)
        changes.created.append(row)
    changes.closed = await close_done_commitments(
        session, transcription=transcription, project_id=project_id, segments=segments
    )
    await session.flush()
    return changes


async def close_done_commitments(
    session: AsyncSession, *, transcription: Transcription, project_id: uuid.UUID, segments: list[Segment]
) -> list[Commitment]:
    mentions = done_mentions(segments)
    if not mentions:
        return []
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
    closed: list[Commitment] = []
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
                closed.append(row)
                await reindex_ledger_of(session, row)
                break
    return closed


async def reindex_ledger_of(session: AsyncSession, row: Commitment) -> None:
    """The commitment's status is part of its indexed text: its meeting's commitments are indexed again
    (after the commit; only the changed chunk is embedded again)."""
    if row.transcription_id is not None:
        await record_change(
            session,
            project_id=row.project_id,
            source_type=SourceType.COMMITMENTS,
            source_id=row.transcription_id,
        )


# --- the ledger as users read and update it --------------------------------------------------------


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
    project_id: uuid.UUID,
    status: CommitmentStatus | None,
    owner: str | None,
    overdue: bool | None,
    limit: int,
    offset: int,
) -> tuple[list[dict[str, Any]], int]:
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


def commitment_brief(row: Commitment) -> dict[str, Any]:
    """A commitment as the project's event feed announces it."""
    return {
        "commitment_id": row.id,
        "meeting_id": row.meeting_id,
        "task": row.task,
        "owner_name": row.owner_name,
        "owner_user_id": row.owner_user_id,
        "due_date": row.due_date,
        "status": row.status,
    }


async def update_commitment(
    session: AsyncSession,
    redis: Redis,
    *,
    actor_id: uuid.UUID,
    project_id: uuid.UUID,
    commitment_id: uuid.UUID,
    status: CommitmentStatus,
) -> dict[str, Any]:
    row = await session.scalar(
        sa.select(Commitment).where(Commitment.id == commitment_id, Commitment.project_id == project_id)
    )
    if row is None:
        raise NotFound("commitment not found")
    if row.status != status:
        row.status = status
        if status == CommitmentStatus.DONE and not row.evidence:
            row.evidence = {"marked_by": str(actor_id)}
        await reindex_ledger_of(session, row)
        await session.flush()
        reopened = status == CommitmentStatus.OPEN
        event = FeedEvent.COMMITMENT_REOPENED if reopened else FeedEvent.COMMITMENT_CLOSED
        publish_after_commit(session, redis, project_id, event, **commitment_brief(row), by=actor_id)
    return commitment_payload(row)
