"""Shared set-up and assertions for the CRUD API tests: objects made through the API, database snapshots."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from api.resources import Resources
from core.models import Base, Outbox
from tests.conftest import Actor, Factory

API = "/api/v1"


async def post_ok(client: httpx.AsyncClient, actor: Actor, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await client.post(API + path, json=body, headers=actor.headers)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def access_callers(factory: Factory) -> tuple[Actor, Actor, Actor, Actor]:
    """The access tests' four callers: a project's owner-to-be, its viewer-to-be, a stranger, an admin."""
    return (
        await factory.user(),
        await factory.user(),
        await factory.user(),
        await factory.user(is_admin=True),
    )


async def make_client(client: httpx.AsyncClient, actor: Actor, **fields: Any) -> dict[str, Any]:
    return await post_ok(client, actor, "/clients", {"name": "Acme", **fields})


async def make_project(client: httpx.AsyncClient, actor: Actor, **fields: Any) -> dict[str, Any]:
    return await post_ok(client, actor, "/projects", {"title": "Web corporativa", **fields})


async def make_document(
    client: httpx.AsyncClient, actor: Actor, project_id: str, **fields: Any
) -> dict[str, Any]:
    body = {"title": "Acta", "content": "# Alcance\nTres secciones.", **fields}
    return await post_ok(client, actor, f"/projects/{project_id}/documents", body)


async def make_meeting(
    client: httpx.AsyncClient, actor: Actor, project_id: str, **fields: Any
) -> dict[str, Any]:
    return await post_ok(
        client, actor, "/meetings", {"project_id": project_id, "title": "Kick-off", **fields}
    )


def assert_error(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The one error shape, the expected status, and nothing of the server's insides."""
    assert response.status_code == status, response.text
    assert "Traceback" not in response.text
    assert "SELECT" not in response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    assert set(error) == {"code", "message", "details"}, error
    assert isinstance(error["code"], str)
    assert isinstance(error["message"], str)
    if code is not None:
        assert error["code"] == code, error
    return error


async def snapshot(resources: Resources) -> dict[str, tuple[int, str | None]]:
    """Row count and a content digest of every table, to prove a request changed nothing."""
    digest = "count(*), md5(string_agg(t::text, ',' ORDER BY t::text))"
    per_table = [
        f"SELECT '{table.name}', {digest} FROM \"{table.name}\" t"  # noqa: S608 (names from our own models)
        for table in Base.metadata.sorted_tables
    ]
    async with resources.engine.connect() as conn:
        rows = (await conn.execute(sa.text(" UNION ALL ".join(per_table)))).all()
    return {name: (int(total), digest) for name, total, digest in rows}


async def outbox_rows(resources: Resources) -> list[Outbox]:
    async with resources.sessionmaker() as session:
        return list((await session.scalars(sa.select(Outbox).order_by(Outbox.id))).all())


def random_id() -> str:
    return str(uuid.uuid4())
