"""The hot reads without the ORM (api/services/reads.py): byte for byte what FastAPI made of the ORM rows
with the routes' response models, the meeting list's filters, sorts and scope, and the caller checked by
the same statement that reads the data."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import sqlalchemy as sa
from pydantic import TypeAdapter

from api.resources import Resources
from api.schemas.common import Page
from api.schemas.meetings import MeetingRead
from api.schemas.projects import ProjectRead
from core.models import Meeting, MemberRole, Project, User
from tests.api.crud_helpers import API, assert_error, make_meeting, make_project
from tests.conftest import Factory


def as_fastapi_did(model: Any, value: Any) -> bytes:
    """A route's response_model serialisation of what the ORM service returned (FastAPI 0.165)."""
    adapter: TypeAdapter[Any] = TypeAdapter(model)
    return adapter.dump_json(adapter.validate_python(value, from_attributes=True), by_alias=True)


async def test_reads_answer_byte_for_byte_what_the_response_model_made_of_the_rows(
    client: httpx.AsyncClient, factory: Factory, resources: Resources
) -> None:
    owner = await factory.user()
    first = await make_project(
        client,
        owner,
        title='Migración — fase 1 "ñ" \u2028',
        description="Línea 1\nLínea 2 <b>&</b>",
        status="in-progress",
        priority="urgent",
        progress=35,
        start_date="2026-01-10",
        end_date="2026-06-30",
        deadline="2026-06-15",
        budget=12000.5,
        hourly_rate=60,
        estimated_hours=200.25,
        actual_hours=70.1,
    )
    second = await make_project(client, owner, title="Sin números")
    meeting = await make_meeting(
        client,
        owner,
        first["id"],
        title="Revisión",
        description="Orden del día",
        start_time="2026-12-01T10:00:00+01:00",
        end_time="2026-12-01T11:30:00+01:00",
    )
    await make_meeting(client, owner, first["id"], title="Sin fecha")

    async with resources.sessionmaker() as session:
        projects = {p.id: p for p in (await session.scalars(sa.select(Project))).all()}
        meetings = (
            await session.scalars(
                sa.select(Meeting).order_by(Meeting.start_time.desc().nulls_last(), Meeting.id)
            )
        ).all()
    ordered = sorted(projects.values(), key=lambda p: (p.created_at, p.id), reverse=True)
    assert [p.id for p in ordered] == [uuid.UUID(second["id"]), uuid.UUID(first["id"])]

    for project_id, project in projects.items():
        r = await client.get(f"{API}/projects/{project_id}", headers=owner.headers)
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/json"
        assert r.content == as_fastapi_did(ProjectRead, project)
    r = await client.get(f"{API}/projects", headers=owner.headers)
    page = {"items": ordered, "total": 2, "limit": 20, "offset": 0}
    assert r.content == as_fastapi_did(Page[ProjectRead], page)

    r = await client.get(f"{API}/meetings/{meeting['id']}", headers=owner.headers)
    assert r.content == as_fastapi_did(MeetingRead, meetings[0])
    assert r.json()["duration_seconds"] == 5400.0
    r = await client.get(f"{API}/meetings", params={"project_id": first["id"]}, headers=owner.headers)
    page = {"items": meetings, "total": 2, "limit": 20, "offset": 0}
    assert r.content == as_fastapi_did(Page[MeetingRead], page)


async def test_meeting_lists_filter_sort_and_keep_to_what_the_caller_sees(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    owner, viewer, admin = await factory.user(), await factory.user(), await factory.user(is_admin=True)
    seen = await make_project(client, owner, title="Visible")
    unseen = await make_project(client, owner, title="Not the viewer's")
    await factory.member(uuid.UUID(seen["id"]), viewer, MemberRole.VIEWER)
    for title, start in [("b", "2026-03-01T10:00:00Z"), ("a", "2026-01-01T10:00:00Z"), ("c", None)]:
        await make_meeting(client, owner, seen["id"], title=title, start_time=start)
    started = await make_meeting(client, owner, seen["id"], title="d", start_time="2026-02-01T10:00:00Z")
    r = await client.put(
        f"{API}/meetings/{started['id']}", json={"status": "in-progress"}, headers=owner.headers
    )
    assert r.status_code == 200
    await make_meeting(client, owner, unseen["id"], title="elsewhere")

    async def titles(actor: Any, query: str) -> list[str]:
        r = await client.get(f"{API}/meetings?{query}", headers=actor.headers)
        assert r.status_code == 200, r.text
        return [item["title"] for item in r.json()["items"]]

    assert await titles(viewer, "") == ["b", "d", "a", "c"]  # start time, newest first, undated last
    assert await titles(viewer, f"project_id={seen['id']}&sort=title") == ["a", "b", "c", "d"]
    assert await titles(viewer, "sort=-title&limit=2") == ["d", "c"]
    assert await titles(viewer, "status=in-progress") == ["d"]
    assert await titles(viewer, "starts_after=2026-02-01T10:00:00Z") == ["b", "d"]
    assert await titles(viewer, "starts_before=2026-02-01T10:00:00Z&sort=start_time") == ["a"]
    assert sorted(await titles(admin, "")) == ["a", "b", "c", "d", "elsewhere"]
    assert await titles(owner, f"project_id={unseen['id']}") == ["elsewhere"]

    r = await client.get(f"{API}/meetings?limit=2&offset=10", headers=viewer.headers)
    assert r.json() == {"items": [], "total": 4, "limit": 2, "offset": 10}
    assert_error(await client.get(f"{API}/meetings?project_id={unseen['id']}", headers=viewer.headers), 404)
    assert_error(
        await client.get(f"{API}/meetings?sort=room_id", headers=viewer.headers), 422, "invalid_sort"
    )
    assert_error(await client.get(f"{API}/meetings?status=lost", headers=viewer.headers), 422)


async def test_the_reads_refuse_a_disabled_or_deleted_caller(
    client: httpx.AsyncClient, factory: Factory, resources: Resources
) -> None:
    owner = await factory.user()
    project = await make_project(client, owner)
    meeting = await make_meeting(client, owner, project["id"])
    paths = [
        f"/projects/{project['id']}",
        "/projects",
        f"/meetings/{meeting['id']}",
        "/meetings",
        f"/meetings?project_id={project['id']}",
    ]
    for path in paths:
        assert (await client.get(API + path, headers=owner.headers)).status_code == 200
    async with resources.sessionmaker() as session, session.begin():
        await session.execute(sa.update(User).where(User.id == owner.id).values(is_active=False))
    for path in paths:
        error = assert_error(await client.get(API + path, headers=owner.headers), 401, "unauthorized")
        assert error["message"] == "account disabled", path
    async with resources.sessionmaker() as session, session.begin():
        await session.execute(sa.delete(User).where(User.id == owner.id))
    for path in paths:
        error = assert_error(await client.get(API + path, headers=owner.headers), 401, "unauthorized")
        assert error["message"] == "unknown user", path


async def test_a_meeting_of_an_eval_project_is_nobodys(
    client: httpx.AsyncClient, factory: Factory, resources: Resources
) -> None:
    admin = await factory.user(is_admin=True)
    project = await make_project(client, admin)
    meeting = await make_meeting(client, admin, project["id"])
    async with resources.sessionmaker() as session, session.begin():
        await session.execute(sa.update(Project).values(is_eval=True))
    assert_error(await client.get(f"{API}/meetings/{meeting['id']}", headers=admin.headers), 404)
    assert_error(await client.get(f"{API}/meetings?project_id={project['id']}", headers=admin.headers), 404)
    assert_error(await client.get(f"{API}/projects/{project['id']}", headers=admin.headers), 404)
    assert (await client.get(f"{API}/projects", headers=admin.headers)).json()["total"] == 0


async def test_every_answer_of_the_hot_reads_leaves_no_connection_checked_out(
    client: httpx.AsyncClient, factory: Factory, resources: Resources
) -> None:
    owner, stranger = await factory.user(), await factory.user()
    project = await make_project(client, owner)
    meeting = await make_meeting(client, owner, project["id"])
    missing = uuid.uuid4()
    pool = resources.engine.sync_engine.pool
    answers = [
        (owner, f"/projects/{project['id']}", 200),
        (owner, f"/meetings/{meeting['id']}", 200),
        (owner, f"/meetings?project_id={project['id']}", 200),
        (owner, "/projects?sort=-title", 200),
        (owner, f"/projects/{missing}", 404),
        (stranger, f"/meetings/{meeting['id']}", 404),
        (stranger, f"/meetings?project_id={project['id']}", 404),
        (owner, "/projects?sort=nonsense", 422),
    ]
    for user, path, expected in answers:
        assert (await client.get(API + path, headers=user.headers)).status_code == expected, path
        assert pool.checkedout() == 0, path  # type: ignore[attr-defined]
    async with resources.sessionmaker() as session, session.begin():
        await session.execute(sa.delete(User).where(User.id == owner.id))
    assert (await client.get(f"{API}/projects/{project['id']}", headers=owner.headers)).status_code == 401
    assert pool.checkedout() == 0  # type: ignore[attr-defined]
