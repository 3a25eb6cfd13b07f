"""Meetings of a project: CRUD with unguessable Jitsi room names and forward-only status."""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from api.access import require_project, visible_project_ids
from api.schemas.meetings import MeetingCreate, MeetingUpdate
from api.services.changes import apply_changes
from api.services.listing import fetch_page, order_by
from core.errors import Conflict, Invalid, NotFound
from core.models import Meeting, MeetingStatus, MemberRole, OutboxAction, SourceType, User
from core.outbox import record_change
from ingestion.indexer import delete_meeting_chunks

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


async def list_meetings(
    session: AsyncSession,
    *,
    actor: User,
    limit: int,
    offset: int,
    sort: str | None,
    project_id: uuid.UUID | None = None,
    status: MeetingStatus | None = None,
    starts_after: datetime | None = None,
    starts_before: datetime | None = None,
) -> tuple[list[Meeting], int]:
    query = sa.select(Meeting)
    if project_id:
        # Filtering by a project the caller may not see is a 404, as for any other project route.
        await require_project(session, actor, project_id)
        query = query.where(Meeting.project_id == project_id)
    elif not actor.is_admin:
        query = query.where(Meeting.project_id.in_(visible_project_ids(actor)))
    if status:
        query = query.where(Meeting.status == status)
    if starts_after:
        query = query.where(Meeting.start_time >= starts_after)
    if starts_before:
        query = query.where(Meeting.start_time < starts_before)
    ordering = (
        order_by(sort, MEETING_SORTS, Meeting.id)
        if sort
        else [Meeting.start_time.desc().nulls_last(), Meeting.id]
    )
    return await fetch_page(session, query, limit=limit, offset=offset, ordering=ordering)


async def get_meeting(
    session: AsyncSession, *, actor: User, meeting_id: uuid.UUID, need: MemberRole = MemberRole.VIEWER
) -> Meeting:
    meeting = await session.get(Meeting, meeting_id)
    if meeting is None:
        raise NotFound("meeting not found")
    await require_project(session, actor, meeting.project_id, need, what="meeting")
    return meeting


async def create_meeting(session: AsyncSession, *, actor: User, data: MeetingCreate) -> Meeting:
    await require_project(session, actor, data.project_id, MemberRole.EDITOR)
    meeting = Meeting(**data.model_dump(exclude_none=True), room_id=new_room_id(), created_by_id=actor.id)
    session.add(meeting)
    await session.flush()
    await record_change(
        session, project_id=meeting.project_id, source_type=SourceType.MEETING, source_id=meeting.id
    )
    return meeting


def check_transition(current: MeetingStatus, target: MeetingStatus) -> None:
    if target != current and target not in TRANSITIONS[current]:
        raise Conflict(
            f"a meeting cannot go from {current.value} to {target.value}", code="invalid_transition"
        )


async def update_meeting(
    session: AsyncSession, *, actor: User, meeting_id: uuid.UUID, data: MeetingUpdate
) -> Meeting:
    meeting = await get_meeting(session, actor=actor, meeting_id=meeting_id, need=MemberRole.EDITOR)
    changes = data.model_dump(exclude_unset=True)
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
    return meeting


async def delete_meeting(session: AsyncSession, *, actor: User, meeting_id: uuid.UUID) -> None:
    meeting = await get_meeting(session, actor=actor, meeting_id=meeting_id, need=MemberRole.EDITOR)
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
