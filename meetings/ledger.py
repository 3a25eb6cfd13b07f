"""The commitment ledger: commitments heard in a meeting become rows; a later meeting that says one is
done closes it, and one that gives it a new date moves it, with the sentence as evidence. Users list the
ledger (open, overdue, by owner) and mark commitments done."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
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
from core.text import fold
from meetings.mentions import MOVED, Candidate, Mention, match_mention, progress_mentions
from meetings.schemas import MeetingSummary, Segment


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
    """What a summary did to the ledger: the commitments it added, those it closed and those given a new
    date (as they stand at the end: one closed and then moved by the same meeting is moved)."""

    created: list[Commitment] = field(default_factory=list)
    closed: list[Commitment] = field(default_factory=list)
    rescheduled: list[Commitment] = field(default_factory=list)

    def close(self, row: Commitment) -> None:
        if row in self.rescheduled:
            self.rescheduled.remove(row)
        if row not in self.closed:
            self.closed.append(row)

    def moved(self, row: Commitment) -> None:
        if row in self.closed:
            self.closed.remove(row)
        if row not in self.rescheduled:
            self.rescheduled.append(row)

    def counts(self) -> dict[str, int]:
        return {"commitments": len(self.created), "closed": len(self.closed), "moved": len(self.rescheduled)}


async def sync_ledger(
    session: AsyncSession,
    *,
    transcription: Transcription,
    project_id: uuid.UUID,
    summary: MeetingSummary,
    segments: list[Segment],
    meeting_date: date,
) -> LedgerChanges:
    """Make the meeting's open commitments those of this summary, and close or move earlier commitments
    as the transcript says (done, or a new date).

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
    await close_done_commitments(
        session,
        transcription=transcription,
        project_id=project_id,
        segments=segments,
        meeting_date=meeting_date,
        changes=changes,
    )
    await session.flush()
    return changes


async def close_done_commitments(
    session: AsyncSession,
    *,
    transcription: Transcription,
    project_id: uuid.UUID,
    segments: list[Segment],
    meeting_date: date,
    changes: LedgerChanges,
) -> None:
    """Apply what this meeting says about earlier open commitments: "lo envié el viernes" closes the one it
    matches, "pasan al diez de noviembre" gives it the new date (reopening one this same meeting had
    just called done: "la de Google sí… la de Apple estará para el seis"). Each change keeps the sentence
    as evidence, re-indexes the ledger and is added to `changes` (for the event feed)."""
    mentions = progress_mentions(segments, meeting_date)
    if not mentions:
        return
    rows = (
        await session.scalars(
            sa.select(Commitment)
            .where(
                Commitment.project_id == project_id,
                Commitment.status.in_([CommitmentStatus.OPEN, CommitmentStatus.DONE]),
                sa.or_(
                    Commitment.transcription_id.is_(None), Commitment.transcription_id != transcription.id
                ),
            )
            .order_by(Commitment.created_at, Commitment.id)
        )
    ).all()
    closed_here = {
        row.id for row in rows if (row.evidence or {}).get("transcription_id") == str(transcription.id)
    }
    for mention in mentions:
        settled_elsewhere = [
            row for row in rows if row.status == CommitmentStatus.DONE and row.id not in closed_here
        ]
        candidates = [
            row
            for row in rows
            if row not in settled_elsewhere
            and (row.status == CommitmentStatus.OPEN or (mention.kind == MOVED and row.id in closed_here))
        ]
        row = _matching_row(mention, candidates, rows)
        if row is None:
            continue
        evidence: dict[str, Any] = {
            "transcription_id": str(transcription.id),
            "meeting_id": str(transcription.meeting_id),
            "segment_ids": list(mention.segment_ids),
            "text": mention.text,
        }
        if mention.kind == MOVED:
            if row.due_date == mention.new_due and row.status == CommitmentStatus.OPEN:
                continue
            evidence["moved_from"] = row.due_date.isoformat() if row.due_date else None
            row.status, row.due_date = CommitmentStatus.OPEN, mention.new_due
            # A new date is announced falling due and overdue again.
            row.due_soon_announced_at = row.overdue_announced_at = None
            changes.moved(row)
        else:
            row.status = CommitmentStatus.DONE
            closed_here.add(row.id)
            changes.close(row)
        row.evidence = evidence
        await reindex_ledger_of(session, row)


def _matching_row(
    mention: Mention, candidates: list[Commitment], everyone: Sequence[Commitment]
) -> Commitment | None:
    open_by_owner = Counter(
        _fold(row.owner_name or "") for row in everyone if row.status == CommitmentStatus.OPEN
    )
    found = match_mention(
        mention,
        [
            Candidate(row, row.owner_name, row.task, open_by_owner[_fold(row.owner_name or "")])
            for row in candidates
        ],
    )
    return found.key if found is not None else None  # type: ignore[return-value]


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
