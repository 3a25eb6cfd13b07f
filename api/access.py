"""Object-level access control, in one place: every project-scoped read or write goes through here.

A user sees a project as one of its members or as an admin. Anything hanging off a project (documents,
meetings, transcriptions, chat, chunks) is visible exactly when its project is. Eval projects (the corpora
of evals/) are visible to no one, admins included. An object the caller may
not see is reported as not found, never as forbidden, so ids reveal nothing. Members whose role is too
low for a write get 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Forbidden, NotFound
from core.models import Meeting, MemberRole, Project, ProjectMember, Transcription, User


@dataclass(frozen=True)
class ProjectAccess:
    project: Project
    role: MemberRole  # admins act as owners

    def can(self, need: MemberRole) -> bool:
        return self.role.rank >= need.rank


def visible_project_ids(user: User) -> sa.Select[tuple[uuid.UUID]]:
    """A subquery of the ids of every project `user` may see. Eval projects (evals/) are nobody's."""
    if user.is_admin:
        return sa.select(Project.id).where(Project.is_eval.is_(False))
    # Eval projects have no members, and no one can add any (require_project does not find them).
    return sa.select(ProjectMember.project_id).where(ProjectMember.user_id == user.id)


def project_visible(user: User) -> sa.ColumnElement[bool]:
    """The same rule as a condition on `projects` rows (lists that select projects directly)."""
    if user.is_admin:
        return Project.is_eval.is_(False)
    return Project.id.in_(visible_project_ids(user))


async def allowed_project_ids(session: AsyncSession, user: User) -> list[uuid.UUID]:
    return list((await session.scalars(visible_project_ids(user))).all())


async def visible_among(
    session: AsyncSession, user_id: uuid.UUID, project_ids: Collection[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of these projects the user may see at this moment, in one statement that reads the user too
    (none once the user is deleted or disabled): a stream checks each batch of events with it before
    sending them, so access lost while it runs hides the events that follow."""
    if not project_ids:
        return set()
    member = sa.exists().where(ProjectMember.project_id == Project.id, ProjectMember.user_id == User.id)
    query = (
        sa.select(Project.id)
        .join(User, sa.and_(User.id == user_id, User.is_active.is_(True)))
        .where(Project.id.in_(list(project_ids)), Project.is_eval.is_(False), sa.or_(User.is_admin, member))
    )
    return set((await session.scalars(query)).all())


async def count_all_projects(session: AsyncSession) -> int:
    """How many projects an admin sees (every one but the eval corpora)."""
    query = sa.select(sa.func.count()).select_from(Project).where(Project.is_eval.is_(False))
    return int(await session.scalar(query) or 0)


def _project_access_query(*, for_update: bool) -> sa.Select[tuple[Project, MemberRole]]:
    query = (
        sa.select(Project, ProjectMember.role)
        .outerjoin(
            ProjectMember,
            sa.and_(ProjectMember.project_id == Project.id, ProjectMember.user_id == sa.bindparam("user_id")),
        )
        .where(Project.id == sa.bindparam("project_id"), Project.is_eval.is_(False))
    )
    if for_update:
        # The row as it is once locked: a copy loaded earlier in the request (current_user's prefetch)
        # would otherwise be kept by the identity map, and a read-modify-write would use stale values.
        return query.with_for_update(of=Project).execution_options(populate_existing=True)
    return query


# Built once, with bound parameters: every call then reuses their cache keys and compiled SQL instead of
# building a new statement (this check runs on every project-scoped request).
_PROJECT_ACCESS = _project_access_query(for_update=False)
_PROJECT_ACCESS_FOR_UPDATE = _project_access_query(for_update=True)


# current_user reads the caller and, on routes with a {project_id}, the caller's access to it in the same
# statement; require_project then takes that answer instead of asking again (one round trip fewer).
_PREFETCHED = "v1tr0.prefetched_project_access"
_USER_WITH_ACCESS = (
    sa.select(User, Project, ProjectMember.role)
    .select_from(User)
    .outerjoin(Project, sa.and_(Project.id == sa.bindparam("project_id"), Project.is_eval.is_(False)))
    .outerjoin(
        ProjectMember, sa.and_(ProjectMember.project_id == Project.id, ProjectMember.user_id == User.id)
    )
    .where(User.id == sa.bindparam("user_id"))
)


async def load_user_with_access(
    session: AsyncSession, user_id: uuid.UUID, project_id: uuid.UUID
) -> User | None:
    """The user, and, kept for the request's first require_project on `project_id`, their access to it."""
    row = (await session.execute(_USER_WITH_ACCESS, {"user_id": user_id, "project_id": project_id})).first()
    if row is None:
        return None
    user: User = row[0]
    remember_access(session, user.id, project_id, row[1], row[2])
    return user


def remember_access(
    session: AsyncSession,
    user_id: uuid.UUID,
    project_id: uuid.UUID,
    project: Project | None,
    role: MemberRole | None,
) -> None:
    """Access read together with something else (the caller, a meeting): the next require_project for
    this user and project takes it instead of querying. `project` None: not found or an eval project."""
    session.info[_PREFETCHED] = (user_id, project_id, project, role)


async def _project_and_role(
    session: AsyncSession, user: User, project_id: uuid.UUID, *, for_update: bool
) -> tuple[Project, MemberRole | None] | None:
    prefetched = session.info.pop(_PREFETCHED, None)  # good for one check: later ones see later writes
    if not for_update and prefetched is not None and prefetched[:2] == (user.id, project_id):
        return None if prefetched[2] is None else (prefetched[2], prefetched[3])
    query = _PROJECT_ACCESS_FOR_UPDATE if for_update else _PROJECT_ACCESS
    row = (await session.execute(query, {"user_id": user.id, "project_id": project_id})).first()
    return None if row is None else (row[0], row[1])


async def require_project(
    session: AsyncSession,
    user: User,
    project_id: uuid.UUID,
    need: MemberRole = MemberRole.VIEWER,
    *,
    what: str = "project",
    for_update: bool = False,
) -> ProjectAccess:
    """Return the project and the caller's role; raise NotFound (not visible) or Forbidden (role too low)."""
    found = await _project_and_role(session, user, project_id, for_update=for_update)
    if found is None:
        raise NotFound(f"{what} not found")
    project, role = found
    if user.is_admin:
        role = MemberRole.OWNER
    elif role is None:
        raise NotFound(f"{what} not found")
    access = ProjectAccess(project=project, role=role)
    if not access.can(need):
        raise Forbidden(f"this needs the {need.value} role on the project")
    return access


async def project_scope(
    session: AsyncSession, user: User, project_id: uuid.UUID | None
) -> sa.Select[tuple[uuid.UUID]] | list[uuid.UUID] | None:
    """What a cross-project list may show: the one project asked for (if visible: else not found),
    every project the user sees, or (None) everything, for admins."""
    if project_id is not None:
        await require_project(session, user, project_id)
        return [project_id]
    return None if user.is_admin else visible_project_ids(user)


@dataclass(frozen=True)
class MeetingAccess:
    meeting: Meeting
    access: ProjectAccess


# The meeting with the caller's access to its project, in one statement.
_MEETING_WITH_ACCESS = (
    sa.select(Meeting, Project, ProjectMember.role)
    .select_from(Meeting)
    .outerjoin(Project, sa.and_(Project.id == Meeting.project_id, Project.is_eval.is_(False)))
    .outerjoin(
        ProjectMember,
        sa.and_(ProjectMember.project_id == Project.id, ProjectMember.user_id == sa.bindparam("user_id")),
    )
    .where(Meeting.id == sa.bindparam("meeting_id"))
)


async def require_meeting(
    session: AsyncSession,
    user: User,
    meeting_id: uuid.UUID,
    need: MemberRole = MemberRole.VIEWER,
    *,
    for_update: bool = False,
) -> MeetingAccess:
    """A meeting is visible exactly when its project is. `for_update` locks the meeting row until the
    request commits (joins and leaves of one meeting then see each other)."""
    if for_update:
        meeting = await session.scalar(
            sa.select(Meeting)
            .where(Meeting.id == meeting_id)
            .with_for_update(of=Meeting)
            .execution_options(populate_existing=True)
        )
        if meeting is None:
            raise NotFound("meeting not found")
    else:
        row = (
            await session.execute(_MEETING_WITH_ACCESS, {"meeting_id": meeting_id, "user_id": user.id})
        ).first()
        if row is None:
            raise NotFound("meeting not found")
        meeting = row[0]
        remember_access(session, user.id, meeting.project_id, row[1], row[2])  # one statement, not two
    access = await require_project(session, user, meeting.project_id, need, what="meeting")
    return MeetingAccess(meeting, access)


async def require_transcription(
    session: AsyncSession, user: User, transcription_id: uuid.UUID, need: MemberRole = MemberRole.VIEWER
) -> Transcription:
    row = await session.get(Transcription, transcription_id)
    meeting = await session.get(Meeting, row.meeting_id) if row is not None else None
    if row is None or meeting is None:
        raise NotFound("transcription not found")
    await require_project(session, user, meeting.project_id, need, what="transcription")
    return row
