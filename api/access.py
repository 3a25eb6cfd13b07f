"""Object-level access control, in one place: every project-scoped read or write goes through here.

A user sees a project as one of its members or as an admin. Anything hanging off a project (documents,
meetings, transcriptions, chat, chunks) is visible exactly when its project is. Eval projects (the corpora
of evals/) are visible to no one, admins included. An object the caller may
not see is reported as not found, never as forbidden, so ids reveal nothing. Members whose role is too
low for a write get 403.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

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


UserId = uuid.UUID | sa.BindParameter[uuid.UUID]

# The caller's id as a bound parameter: statements built once and run for any caller (api/services/reads.py).
CALLER_ID: sa.BindParameter[uuid.UUID] = sa.bindparam("user_id", type_=sa.Uuid())


def visible_project_ids(user: User) -> sa.Select[tuple[uuid.UUID]]:
    """A subquery of the ids of every project `user` may see. Eval projects (evals/) are nobody's."""
    return _visible_project_ids(user.id, is_admin=user.is_admin)


def project_visible(user: User) -> sa.ColumnElement[bool]:
    """The same rule as a condition on `projects` rows (lists that select projects directly)."""
    return _project_visible(user.id, is_admin=user.is_admin)


def caller_visible_project_ids(*, is_admin: bool) -> sa.Select[tuple[uuid.UUID]]:
    """visible_project_ids for the caller bound as :user_id."""
    return _visible_project_ids(CALLER_ID, is_admin=is_admin)


def caller_project_visible(*, is_admin: bool) -> sa.ColumnElement[bool]:
    """project_visible for the caller bound as :user_id."""
    return _project_visible(CALLER_ID, is_admin=is_admin)


def _visible_project_ids(user_id: UserId, *, is_admin: bool) -> sa.Select[tuple[uuid.UUID]]:
    if is_admin:
        return sa.select(Project.id).where(Project.is_eval.is_(False))
    # Eval projects have no members, and no one can add any (require_project does not find them).
    return sa.select(ProjectMember.project_id).where(ProjectMember.user_id == user_id)


def _project_visible(user_id: UserId, *, is_admin: bool) -> sa.ColumnElement[bool]:
    if is_admin:
        return Project.is_eval.is_(False)
    return Project.id.in_(_visible_project_ids(user_id, is_admin=False))


def granted_role(
    role: MemberRole | None, *, is_admin: bool, need: MemberRole = MemberRole.VIEWER, what: str = "project"
) -> MemberRole:
    """The caller's role on a project that exists and is not an eval project: admins act as owners;
    NotFound for a non-member, Forbidden for a member whose role is below `need`."""
    if is_admin:
        role = MemberRole.OWNER
    elif role is None:
        raise NotFound(f"{what} not found")
    if role.rank < need.rank:
        raise Forbidden(f"this needs the {need.value} role on the project")
    return role


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
    return ProjectAccess(project, granted_role(role, is_admin=user.is_admin, need=need, what=what))


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


# Reads without the ORM (api/services/reads.py): the caller and their access come with the data, in the
# same statement, as columns labelled CALLER_ACTIVE, CALLER_ADMIN, CALLER_ROLE and PROJECT_FOUND (false:
# no such project, or an eval project). There is a row exactly when the caller (:user_id) exists.
CALLER_ACTIVE, CALLER_ADMIN, CALLER_ROLE, PROJECT_FOUND = (
    "caller_active",
    "caller_admin",
    "caller_role",
    "found",
)


def _caller_columns() -> list[sa.ColumnElement[Any]]:
    return [User.is_active.label(CALLER_ACTIVE), User.is_admin.label(CALLER_ADMIN)]


def caller(*columns: sa.ColumnElement[Any]) -> sa.Select[Any]:
    """The caller alone (with `columns` of anything joined later)."""
    return sa.select(*_caller_columns(), *columns).where(User.id == CALLER_ID)


def caller_with_project(*columns: sa.ColumnElement[Any]) -> sa.Select[Any]:
    """The caller, their access to project :project_id and `columns` of that project."""
    return (
        sa.select(
            *_caller_columns(),
            ProjectMember.role.label(CALLER_ROLE),
            Project.id.is_not(None).label(PROJECT_FOUND),
            *columns,
        )
        .select_from(User)
        .outerjoin(Project, sa.and_(Project.id == sa.bindparam("project_id"), Project.is_eval.is_(False)))
        .outerjoin(
            ProjectMember, sa.and_(ProjectMember.project_id == Project.id, ProjectMember.user_id == User.id)
        )
        .where(User.id == CALLER_ID)
    )


def caller_with_meeting(*columns: sa.ColumnElement[Any]) -> sa.Select[Any]:
    """The caller, meeting :meeting_id's `columns` and the caller's access to its project."""
    return (
        sa.select(
            *_caller_columns(),
            ProjectMember.role.label(CALLER_ROLE),
            Project.id.is_not(None).label(PROJECT_FOUND),
            *columns,
        )
        .select_from(User)
        .outerjoin(Meeting, Meeting.id == sa.bindparam("meeting_id"))
        .outerjoin(Project, sa.and_(Project.id == Meeting.project_id, Project.is_eval.is_(False)))
        .outerjoin(
            ProjectMember, sa.and_(ProjectMember.project_id == Project.id, ProjectMember.user_id == User.id)
        )
        .where(User.id == CALLER_ID)
    )


def granted_from(
    row: Mapping[str, Any], *, need: MemberRole = MemberRole.VIEWER, what: str = "project"
) -> MemberRole:
    """The decision of require_project from a row of caller_with_project / caller_with_meeting."""
    if not row[PROJECT_FOUND]:
        raise NotFound(f"{what} not found")
    role = row[CALLER_ROLE]
    return granted_role(
        MemberRole(role) if role is not None else None, is_admin=row[CALLER_ADMIN], need=need, what=what
    )
