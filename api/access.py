"""Object-level access control, in one place: every project-scoped read or write goes through here.

A user sees a project as one of its members or as an admin. Anything hanging off a project (documents,
meetings, transcriptions, chat, chunks) is visible exactly when its project is. Eval projects (the corpora
of evals/) are visible to no one, admins included. An object the caller may
not see is reported as not found, never as forbidden, so ids reveal nothing. Members whose role is too
low for a write get 403.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Forbidden, NotFound
from core.models import MemberRole, Project, ProjectMember, User


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


def _project_access_query(*, for_update: bool) -> sa.Select[tuple[Project, MemberRole]]:
    query = (
        sa.select(Project, ProjectMember.role)
        .outerjoin(
            ProjectMember,
            sa.and_(ProjectMember.project_id == Project.id, ProjectMember.user_id == sa.bindparam("user_id")),
        )
        .where(Project.id == sa.bindparam("project_id"), Project.is_eval.is_(False))
    )
    return query.with_for_update(of=Project) if for_update else query


# Built once, with bound parameters: every call then reuses their cache keys and compiled SQL instead of
# building a new statement (this check runs on every project-scoped request).
_PROJECT_ACCESS = _project_access_query(for_update=False)
_PROJECT_ACCESS_FOR_UPDATE = _project_access_query(for_update=True)


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
    query = _PROJECT_ACCESS_FOR_UPDATE if for_update else _PROJECT_ACCESS
    row = (await session.execute(query, {"user_id": user.id, "project_id": project_id})).first()
    if row is None:
        raise NotFound(f"{what} not found")
    project, role = row
    if user.is_admin:
        role = MemberRole.OWNER
    elif role is None:
        raise NotFound(f"{what} not found")
    access = ProjectAccess(project=project, role=role)
    if not access.can(need):
        raise Forbidden(f"this needs the {need.value} role on the project")
    return access
