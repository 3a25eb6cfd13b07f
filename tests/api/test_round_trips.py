"""Statements per request on the hot read paths: a regression here is a round trip added to every call.

Counted where every statement is sent, psycopg's cursor. GET requests run in autocommit (no BEGIN or
COMMIT) and the pool pings only idle connections, so these counts are the round trips to PostgreSQL."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import psycopg
import pytest

from api.access import load_user_with_access, require_project
from api.resources import Resources
from core.models import MemberRole, Project
from tests.api.crud_helpers import API, access_callers, make_meeting, make_project
from tests.conftest import Factory


@contextlib.contextmanager
def statements() -> Iterator[list[str]]:
    """The SQL of every statement sent in the block, through SQLAlchemy or straight on the driver (the
    hot reads, core/reads.py): both end in psycopg's AsyncCursor.execute."""
    seen: list[str] = []
    original = psycopg.AsyncCursor.execute

    async def execute(self: psycopg.AsyncCursor[Any], query: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(query))
        return await original(self, query, *args, **kwargs)

    psycopg.AsyncCursor.execute = execute  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        psycopg.AsyncCursor.execute = original  # type: ignore[method-assign]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/projects/{project}", 1),  # the caller and their access to the project, in one statement
        ("/projects?limit=20", 2),  # the caller; the page with its total
        ("/meetings/{meeting}", 1),  # the caller, the meeting and the caller's access to its project
        ("/meetings?project_id={project}&limit=20", 2),  # the caller with their access; the page
    ],
)
async def test_hot_reads_take_this_many_statements(
    client: httpx.AsyncClient, factory: Factory, path: str, expected: int
) -> None:
    owner = await factory.user()
    project = await make_project(client, owner)
    meeting = await make_meeting(client, owner, project["id"])
    url = API + path.format(project=project["id"], meeting=meeting["id"])
    assert (await client.get(url, headers=owner.headers)).status_code == 200  # warm: token cache, pool
    with statements() as seen:
        r = await client.get(url, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert len(seen) == expected, seen


async def test_the_prefetched_access_answers_exactly_like_the_separate_check(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    owner, viewer, stranger, admin = await access_callers(factory)
    project = await make_project(client, owner)
    await factory.member(project["id"], viewer, MemberRole.VIEWER)
    url = f"{API}/projects/{project['id']}"
    for actor, status in [(owner, 200), (viewer, 200), (stranger, 404), (admin, 200)]:
        assert (await client.get(url, headers=actor.headers)).status_code == status
    # a viewer may read but not write: the write's own (locking) check still applies the role
    r = await client.put(url, json={"title": "Renamed"}, headers=viewer.headers)
    assert r.status_code == 403
    missing = f"{API}/projects/00000000-0000-0000-0000-000000000000"
    assert (await client.get(missing, headers=owner.headers)).status_code == 404
    assert (await client.get(f"{API}/projects/not-a-uuid", headers=owner.headers)).status_code == 422


async def test_a_locked_update_sees_a_change_committed_after_the_prefetch(
    client: httpx.AsyncClient, factory: Factory, resources: Resources
) -> None:
    """current_user's prefetch loads the project early; the FOR UPDATE check of a write must still see
    the row as it is once locked, or a read-modify-write would work on stale values."""
    owner = await factory.user()
    project_id = uuid.UUID((await make_project(client, owner, title="Original"))["id"])
    async with resources.sessionmaker() as session:
        user = await load_user_with_access(session, owner.id, project_id)
        assert user is not None
        async with resources.sessionmaker() as other, other.begin():
            row = await other.get(Project, project_id)
            assert row is not None
            row.title = "Renamed meanwhile"
        access = await require_project(session, user, project_id, MemberRole.EDITOR, for_update=True)
        assert access.project.title == "Renamed meanwhile"
        await session.rollback()
