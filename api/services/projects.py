"""Projects, their members and their numbers. Access always goes through api.access."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from api.access import project_visible, require_project
from api.schemas.projects import MemberAdd, ProjectCreate, ProjectUpdate
from api.services.clients import get_client
from core.crud import apply_changes, fetch_page, order_by
from core.document_files import remove_document_files_after_commit
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.models import (
    Document,
    Meeting,
    MeetingStatus,
    MemberRole,
    OutboxAction,
    Priority,
    Project,
    ProjectMember,
    ProjectStatus,
    SourceType,
    User,
)
from core.outbox import record_change
from core.settings import Settings
from core.uploads import remove_uploads_after_commit

PROJECT_SORTS = {
    "title": Project.title,
    "created_at": Project.created_at,
    "updated_at": Project.updated_at,
    "deadline": Project.deadline,
    "progress": Project.progress,
    "priority": Project.priority,
    "status": Project.status,
    "start_date": Project.start_date,
}


async def list_projects(
    session: AsyncSession,
    *,
    actor: User,
    limit: int,
    offset: int,
    sort: str | None,
    status: ProjectStatus | None = None,
    priority: Priority | None = None,
    client_id: uuid.UUID | None = None,
    q: str | None = None,
) -> tuple[list[Project], int]:
    query = sa.select(Project).where(project_visible(actor))
    if status:
        query = query.where(Project.status == status)
    if priority:
        query = query.where(Project.priority == priority)
    if client_id:
        query = query.where(Project.client_id == client_id)
    if q:
        query = query.where(Project.title.icontains(q, autoescape=True))
    ordering = order_by(sort, PROJECT_SORTS, Project.id) if sort else [Project.created_at.desc(), Project.id]
    return await fetch_page(session, query, limit=limit, offset=offset, ordering=ordering)


async def get_project(session: AsyncSession, *, actor: User, project_id: uuid.UUID) -> Project:
    return (await require_project(session, actor, project_id)).project


async def create_project(session: AsyncSession, *, actor: User, data: ProjectCreate) -> Project:
    if data.client_id is not None:
        await get_client(session, actor=actor, client_id=data.client_id)
    project = Project(**data.model_dump(exclude_none=True), owner_id=actor.id)
    session.add(project)
    await session.flush()
    session.add(ProjectMember(project_id=project.id, user_id=actor.id, role=MemberRole.OWNER))
    await record_change(session, project_id=project.id, source_type=SourceType.PROJECT, source_id=project.id)
    await session.flush()
    return project


async def update_project(
    session: AsyncSession, *, actor: User, project_id: uuid.UUID, data: ProjectUpdate
) -> Project:
    project = (await require_project(session, actor, project_id, MemberRole.EDITOR, for_update=True)).project
    changes = data.model_dump(exclude_unset=True)
    if changes.get("client_id") is not None:
        await get_client(session, actor=actor, client_id=changes["client_id"])
    changed = apply_changes(project, changes)
    if project.start_date and project.end_date and project.end_date < project.start_date:
        raise Invalid("end_date must not be before start_date")
    if changed:
        # Any change, not only indexed text: insights and stats read the numbers too.
        await record_change(
            session, project_id=project.id, source_type=SourceType.PROJECT, source_id=project.id
        )
    await session.flush()
    return project


async def delete_project(
    session: AsyncSession, *, actor: User, project_id: uuid.UUID, settings: Settings
) -> None:
    project = (await require_project(session, actor, project_id, MemberRole.OWNER)).project
    meetings = await session.scalars(sa.select(Meeting.id).where(Meeting.project_id == project.id))
    meeting_ids = list(meetings.all())
    await record_change(
        session,
        project_id=project.id,
        source_type=SourceType.PROJECT,
        source_id=project.id,
        action=OutboxAction.DELETE,
    )
    await session.delete(project)  # chunks, documents, meetings... go with it (ON DELETE CASCADE)
    await session.flush()
    remove_uploads_after_commit(session, settings, meeting_ids)  # the meetings' recordings, once committed
    remove_document_files_after_commit(session, settings, project_id=project.id)  # uploaded originals


def _ratio(part: Decimal | float | None, whole: Decimal | float | None) -> float | None:
    if part is None or whole is None or float(whole) == 0:
        return None
    return round(float(part) / float(whole), 4)


async def project_stats(session: AsyncSession, *, actor: User, project_id: uuid.UUID) -> dict[str, Any]:
    project = (await require_project(session, actor, project_id)).project
    now = datetime.now(UTC)
    meeting_row = (
        await session.execute(
            sa.select(
                sa.func.count(),
                sa.func.count().filter(Meeting.status == MeetingStatus.COMPLETED),
                sa.func.count().filter(Meeting.status == MeetingStatus.SCHEDULED, Meeting.start_time > now),
                sa.func.coalesce(
                    sa.func.sum(sa.extract("epoch", Meeting.end_time - Meeting.start_time)).filter(
                        Meeting.status == MeetingStatus.COMPLETED
                    ),
                    0,
                ),
            ).where(Meeting.project_id == project.id)
        )
    ).one()
    documents = await session.scalar(
        sa.select(sa.func.count()).select_from(Document).where(Document.project_id == project.id)
    )
    members = await session.scalar(
        sa.select(sa.func.count()).select_from(ProjectMember).where(ProjectMember.project_id == project.id)
    )
    cost = project.actual_hours * project.hourly_rate if project.hourly_rate is not None else None
    today = date.today()
    elapsed: float | None = None
    if project.start_date and project.end_date:
        span = (project.end_date - project.start_date).days
        done = (today - project.start_date).days
        elapsed = 1.0 if span <= 0 else min(max(done / span, 0.0), 1.0)
    deadline = project.deadline or project.end_date
    return {
        "project_id": project.id,
        "progress": project.progress,
        "meetings_total": meeting_row[0],
        "meetings_completed": meeting_row[1],
        "meetings_upcoming": meeting_row[2],
        "meeting_hours": round(float(meeting_row[3]) / 3600, 2),
        "documents": documents or 0,
        "members": members or 0,
        "estimated_hours": float(project.estimated_hours) if project.estimated_hours is not None else None,
        "actual_hours": float(project.actual_hours),
        "hours_burn": _ratio(project.actual_hours, project.estimated_hours),
        "cost": float(cost) if cost is not None else None,
        "budget": float(project.budget) if project.budget is not None else None,
        "budget_burn": _ratio(cost, project.budget),
        "time_elapsed": round(elapsed, 4) if elapsed is not None else None,
        "schedule_variance": round(project.progress / 100 - elapsed, 4) if elapsed is not None else None,
        "days_to_deadline": (deadline - today).days if deadline else None,
    }


async def list_members(session: AsyncSession, *, actor: User, project_id: uuid.UUID) -> list[dict[str, Any]]:
    await require_project(session, actor, project_id)
    rows = await session.execute(
        sa.select(ProjectMember, User)
        .join(User, User.id == ProjectMember.user_id)
        .where(ProjectMember.project_id == project_id)
        .order_by(ProjectMember.created_at)
    )
    return [_member_dict(member, user) for member, user in rows.all()]


def _member_dict(member: ProjectMember, user: User) -> dict[str, Any]:
    return {
        "user_id": user.id,
        "email": user.email,
        "full_name": user.full_name,
        "role": member.role,
        "created_at": member.created_at,
    }


async def add_member(
    session: AsyncSession, *, actor: User, project_id: uuid.UUID, data: MemberAdd
) -> tuple[dict[str, Any], bool]:
    """Add a member, or change the role of an existing one. Returns (member, created)."""
    await require_project(session, actor, project_id, MemberRole.OWNER, for_update=True)
    lookup = User.id == data.user_id if data.user_id else User.email == str(data.email).lower()
    user = await session.scalar(sa.select(User).where(lookup))
    if user is None or not user.is_active:
        raise NotFound("user not found")
    member = await session.scalar(
        sa.select(ProjectMember).where(
            ProjectMember.project_id == project_id, ProjectMember.user_id == user.id
        )
    )
    created = member is None
    if member is None:
        member = ProjectMember(project_id=project_id, user_id=user.id, role=data.role)
        session.add(member)
    else:
        if member.role == MemberRole.OWNER and data.role != MemberRole.OWNER:
            await _ensure_another_owner(session, project_id=project_id, user_id=user.id)
        member.role = data.role
    await session.flush()
    await session.refresh(member)
    return _member_dict(member, user), created


async def _ensure_another_owner(session: AsyncSession, *, project_id: uuid.UUID, user_id: uuid.UUID) -> None:
    others = await session.scalar(
        sa.select(sa.func.count())
        .select_from(ProjectMember)
        .where(
            ProjectMember.project_id == project_id,
            ProjectMember.role == MemberRole.OWNER,
            ProjectMember.user_id != user_id,
        )
    )
    if not others:
        raise Conflict("a project needs at least one owner", code="last_owner")


async def remove_member(
    session: AsyncSession, *, actor: User, project_id: uuid.UUID, user_id: uuid.UUID
) -> None:
    access = await require_project(session, actor, project_id, MemberRole.VIEWER, for_update=True)
    if user_id != actor.id and not access.can(MemberRole.OWNER):
        raise Forbidden("only owners can remove other members")
    member = await session.scalar(
        sa.select(ProjectMember).where(
            ProjectMember.project_id == project_id, ProjectMember.user_id == user_id
        )
    )
    if member is None:
        raise NotFound("member not found")
    if member.role == MemberRole.OWNER:
        await _ensure_another_owner(session, project_id=project_id, user_id=user_id)
    await session.delete(member)
    await session.flush()
