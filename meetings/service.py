"""Meetings of a project: CRUD with unguessable Jitsi room names, forward-only status, joins and leaves,
attendance. Functions take what the API already authorised (a meeting, a project scope) through
api/access.py; no access decision is made here."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.crud import apply_changes, order_by
from core.errors import Conflict, Invalid, NotFound
from core.models import (
    Meeting,
    MeetingParticipant,
    MeetingStatus,
    OutboxAction,
    SourceType,
    User,
)
from core.outbox import record_change
from core.settings import JitsiSettings, Settings
from core.uploads import remove_uploads_after_commit
from ingestion.indexer import delete_meeting_chunks
from meetings.jitsi import room_token

MEETING_SORTS = {
    "start_time": Meeting.start_time,
    "title": Meeting.title,
    "created_at": Meeting.created_at,
    "status": Meeting.status,
}
# Allowed status moves; anything else (going back, leaving a final state) is a conflict.
TRANSITIONS = {
    MeetingStatus.SCHEDULED: {MeetingStatus.IN_PROGRESS, MeetingStatus.COMPLETED, MeetingStatus.CANCELLED},
    MeetingStatus.IN_PROGRESS: {MeetingStatus.COMPLETED, MeetingStatus.CANCELLED},
    MeetingStatus.COMPLETED: set(),
    MeetingStatus.CANCELLED: set(),
}


def new_room_id() -> str:
    return "v1tr0-" + secrets.token_urlsafe(18)


MEETING_FILTERS = ("status", "starts_after", "starts_before")


def meetings_query(
    *columns: Any, scope: sa.ColumnElement[bool] | None, filters: Collection[str], sort: str | None
) -> tuple[sa.Select[Any], list[Any]]:
    """The meeting list's statement and its ordering: meetings in `scope` (a condition from api/access.py;
    None: all), each filter named in `filters` (of MEETING_FILTERS) on the bound parameter of its name."""
    query = sa.select(*columns)
    if scope is not None:
        query = query.where(scope)
    if "status" in filters:
        query = query.where(Meeting.status == sa.bindparam("status"))
    if "starts_after" in filters:
        query = query.where(Meeting.start_time >= sa.bindparam("starts_after"))
    if "starts_before" in filters:
        query = query.where(Meeting.start_time < sa.bindparam("starts_before"))
    ordering = (
        order_by(sort, MEETING_SORTS, Meeting.id)
        if sort
        else [Meeting.start_time.desc().nulls_last(), Meeting.id]
    )
    return query, ordering


async def create_meeting(session: AsyncSession, *, creator_id: uuid.UUID, fields: dict[str, Any]) -> Meeting:
    meeting = Meeting(**fields, room_id=new_room_id(), created_by_id=creator_id)
    session.add(meeting)
    await session.flush()
    await record_change(
        session, project_id=meeting.project_id, source_type=SourceType.MEETING, source_id=meeting.id
    )
    await session.refresh(meeting, ["duration_seconds"])
    return meeting


def check_transition(current: MeetingStatus, target: MeetingStatus) -> None:
    if target != current and target not in TRANSITIONS[current]:
        raise Conflict(
            f"a meeting cannot go from {current.value} to {target.value}", code="invalid_transition"
        )


async def update_meeting(session: AsyncSession, *, meeting: Meeting, changes: dict[str, Any]) -> Meeting:
    if "status" in changes:
        check_transition(meeting.status, changes["status"])
    if changes.get("recording_url") is not None:
        changes["recording_url"] = str(changes["recording_url"])
    changed = apply_changes(meeting, changes)
    if meeting.start_time and meeting.end_time and meeting.end_time < meeting.start_time:
        raise Invalid("end_time must not be before start_time")
    if changed:
        await record_change(
            session, project_id=meeting.project_id, source_type=SourceType.MEETING, source_id=meeting.id
        )
    await session.flush()
    await session.refresh(meeting, ["duration_seconds"])
    return meeting


async def delete_meeting(session: AsyncSession, *, meeting: Meeting, settings: Settings) -> None:
    """The meeting, its chunks (now) and its stored recordings (after the commit; the worker's upload
    sweep removes them if this process dies first)."""
    await record_change(
        session,
        project_id=meeting.project_id,
        source_type=SourceType.MEETING,
        source_id=meeting.id,
        action=OutboxAction.DELETE,
    )
    await delete_meeting_chunks(session, meeting_id=meeting.id)
    await session.delete(meeting)
    await session.flush()
    remove_uploads_after_commit(session, settings, [meeting.id])


@dataclass(frozen=True)
class JoinTicket:
    room_url: str
    room_id: str
    jwt: str | None
    moderator: bool
    participant_id: uuid.UUID


@dataclass(frozen=True)
class LeaveReceipt:
    participant_id: uuid.UUID
    left_at: datetime
    meeting_status: MeetingStatus


def _open_participations(
    meeting_id: uuid.UUID, user_id: uuid.UUID | None = None
) -> sa.Select[tuple[MeetingParticipant]]:
    query = sa.select(MeetingParticipant).where(
        MeetingParticipant.meeting_id == meeting_id, MeetingParticipant.left_at.is_(None)
    )
    if user_id is not None:
        query = query.where(MeetingParticipant.user_id == user_id)
    return query.order_by(MeetingParticipant.joined_at, MeetingParticipant.id)


async def _move_status(session: AsyncSession, meeting: Meeting, target: MeetingStatus) -> None:
    check_transition(meeting.status, target)
    meeting.status = target
    await record_change(
        session, project_id=meeting.project_id, source_type=SourceType.MEETING, source_id=meeting.id
    )


async def join_meeting(
    session: AsyncSession, *, meeting: Meeting, actor: User, moderator: bool, jitsi: JitsiSettings
) -> JoinTicket:
    """Admit `actor` to the meeting's room (the meeting locked by the caller, so that concurrent joins and
    leaves see each other). The first join starts a scheduled meeting; a completed or cancelled one
    cannot be joined (409)."""
    if meeting.status != MeetingStatus.IN_PROGRESS:
        await _move_status(session, meeting, MeetingStatus.IN_PROGRESS)
    now = datetime.now(UTC)
    participant = await session.scalar(_open_participations(meeting.id, actor.id).limit(1))
    if participant is None:
        participant = MeetingParticipant(meeting_id=meeting.id, user_id=actor.id, joined_at=now)
        session.add(participant)
    await session.flush()
    return JoinTicket(
        room_url=jitsi.room_url(meeting.room_id),
        room_id=meeting.room_id,
        jwt=room_token(jitsi, room_id=meeting.room_id, user=actor, moderator=moderator, now=now),
        moderator=moderator,
        participant_id=participant.id,
    )


async def leave_meeting(session: AsyncSession, *, meeting: Meeting, actor: User) -> LeaveReceipt:
    """Record the caller's leave (the meeting locked by the caller). When the last participant leaves a
    meeting in progress, it is completed and its end_time set (unless it has one, or its start_time is
    still ahead)."""
    mine = list((await session.scalars(_open_participations(meeting.id, actor.id))).all())
    if not mine:
        raise NotFound("you are not in this meeting", code="not_in_meeting")
    now = datetime.now(UTC)
    for participant in mine:
        # Never before the join, even if the wall clock stepped back in between.
        participant.left_at = max(now, participant.joined_at)
    await session.flush()
    still_in = await session.scalar(_open_participations(meeting.id).limit(1))
    if still_in is None and meeting.status == MeetingStatus.IN_PROGRESS:
        await _move_status(session, meeting, MeetingStatus.COMPLETED)
        if meeting.end_time is None and (meeting.start_time is None or meeting.start_time <= now):
            meeting.end_time = now
        await session.flush()
    last = mine[-1]
    assert last.left_at is not None
    return LeaveReceipt(participant_id=last.id, left_at=last.left_at, meeting_status=meeting.status)


async def meeting_attendance(
    session: AsyncSession, *, meeting_id: uuid.UUID
) -> Sequence[sa.Row[tuple[uuid.UUID, str, datetime, datetime | None, float | None]]]:
    """Every participation (a user who left and came back has several), with its seconds once it ended."""
    attended = MeetingParticipant.left_at - MeetingParticipant.joined_at
    seconds = sa.cast(sa.extract("epoch", attended), sa.Float)
    query = (
        sa.select(
            MeetingParticipant.user_id,
            User.full_name,
            MeetingParticipant.joined_at,
            MeetingParticipant.left_at,
            seconds.label("seconds"),
        )
        .join(User, User.id == MeetingParticipant.user_id)
        .where(MeetingParticipant.meeting_id == meeting_id)
        .order_by(MeetingParticipant.joined_at, MeetingParticipant.id)
    )
    return (await session.execute(query)).all()
