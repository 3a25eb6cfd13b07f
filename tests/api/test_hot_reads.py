"""api/hot.py answers a project and a meeting read below FastAPI's router: every answer it gives must be the
router's own, byte for byte with the same status and headers, for every caller and every failure, and the
requests it must not take (a non-canonical or invalid id, another method, a root path) reach the router."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI
from sqlalchemy.exc import OperationalError

from api import hot
from api.app import create_app
from api.hot import HotReads
from api.resources import Resources
from api.services import reads
from core.models import MemberRole, User
from core.settings import Settings
from tests.api.crud_helpers import API, make_meeting, make_project
from tests.conftest import Factory

VOLATILE = {"x-request-id", "date"}


@pytest.fixture
async def router_only(settings: Settings, resources: Resources) -> AsyncIterator[httpx.AsyncClient]:
    """The same app without HotReads: every request goes through FastAPI's router and dependencies."""
    app = create_app(settings, resources=resources)
    app.user_middleware = [m for m in app.user_middleware if m.cls is not HotReads]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


def answer(response: httpx.Response) -> tuple[int, bytes, list[tuple[str, str]]]:
    headers = sorted((k, v) for k, v in response.headers.multi_items() if k not in VOLATILE)
    return response.status_code, response.content, headers


async def same_answer(
    fast: httpx.AsyncClient, router: httpx.AsyncClient, path: str, headers: dict[str, str] | None = None
) -> httpx.Response:
    via_hot, via_router = await fast.get(path, headers=headers), await router.get(path, headers=headers)
    assert answer(via_hot) == answer(via_router), path
    return via_hot


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many reads HotReads itself answered (its handlers call these; the routes call reads.* directly)."""
    calls = {"hot": 0}
    for name, entry in hot.HOT_READS.items():
        original = entry.read

        async def read(reader: Any, item_id: uuid.UUID, _original: Any = original) -> bytes:
            calls["hot"] += 1
            return await _original(reader, item_id)

        monkeypatch.setitem(hot.HOT_READS, name, hot.HotRead(entry.route, entry.param, read))
    return calls


async def test_hot_reads_answer_what_the_router_answers_for_every_caller(
    client: httpx.AsyncClient,
    router_only: httpx.AsyncClient,
    factory: Factory,
    resources: Resources,
    counted: dict[str, int],
) -> None:
    owner, viewer, stranger, admin = (
        await factory.user(),
        await factory.user(),
        await factory.user(),
        await factory.user(is_admin=True),
    )
    disabled = await factory.user(is_active=False)
    project = await make_project(client, owner, title="Hot — ñ")
    meeting = await make_meeting(client, owner, project["id"], title="Kick-off")
    await factory.member(uuid.UUID(project["id"]), viewer, MemberRole.VIEWER)
    gone = await factory.user()
    async with resources.sessionmaker() as session:  # a valid token whose user no longer exists
        await session.execute(sa.delete(User).where(User.id == gone.id))
        await session.commit()
    origin = {"Origin": "http://localhost:3000"}

    paths = [f"{API}/projects/{project['id']}", f"{API}/meetings/{meeting['id']}"]
    paths += [f"{API}/projects/{uuid.uuid4()}", f"{API}/meetings/{uuid.uuid4()}"]
    callers: list[dict[str, str]] = [
        owner.headers,
        viewer.headers,
        stranger.headers,
        admin.headers,
        disabled.headers,
        gone.headers,
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer not-a-token"},
        {**owner.headers, **origin},
    ]
    statuses = []
    for path in paths:
        for headers in callers:
            statuses.append((await same_answer(client, router_only, path, headers)).status_code)
    verified = [h for h in callers if h.get("Authorization", "").startswith("Bearer ey")]  # real tokens
    assert counted["hot"] == len(paths) * len(verified)
    assert statuses.count(200) == 2 * 4  # owner, viewer, admin, owner with an Origin: on both items
    assert set(statuses) == {200, 401, 404}

    r = await client.get(paths[0], headers={**owner.headers, **origin})
    assert r.headers["access-control-allow-origin"] == "http://localhost:3000"
    assert r.headers["x-request-id"]
    assert r.headers["content-security-policy"]


async def test_what_hot_reads_leave_to_the_router(
    client: httpx.AsyncClient,
    router_only: httpx.AsyncClient,
    factory: Factory,
    counted: dict[str, int],
) -> None:
    owner = await factory.user()
    project = await make_project(client, owner)
    plain = uuid.UUID(project["id"])
    for path in [
        f"{API}/projects/{plain.hex}",  # valid for FastAPI, not canonical: the router takes it
        f"{API}/projects/{str(plain).upper()}",  # canonical, upper case: HotReads takes it
        f"{API}/projects/{plain}/",
        f"{API}/projects/not-a-uuid",
        f"{API}/projects/{plain}?unused=1",
        f"{API}/meetings/{plain}x",
    ]:
        await same_answer(client, router_only, path, owner.headers)
    assert counted["hot"] == 2  # the upper-case id and the one with a query string
    r = await client.get(f"{API}/projects/{plain.hex}", headers=owner.headers)
    assert r.status_code == 200
    assert r.json()["id"] == str(plain)
    assert (await client.get(f"{API}/projects/not-a-uuid", headers=owner.headers)).status_code == 422

    for method in ("HEAD", "POST", "OPTIONS"):
        before = counted["hot"]
        via_hot = await client.request(method, f"{API}/projects/{plain}", headers=owner.headers)
        assert counted["hot"] == before, method
        assert via_hot.status_code != 500


async def test_a_failing_read_gets_the_routes_error_answer(
    client: httpx.AsyncClient,
    router_only: httpx.AsyncClient,
    factory: Factory,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    owner = await factory.user()
    project = await make_project(client, owner)

    async def database_down(*args: Any, **kwargs: Any) -> bytes:
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(reads, "read_project", database_down)
    r = await same_answer(client, router_only, f"{API}/projects/{project['id']}", owner.headers)
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "service_unavailable"

    async def bug(*args: Any, **kwargs: Any) -> bytes:
        raise RuntimeError("a bug")

    monkeypatch.setattr(reads, "read_project", bug)
    r = await client.get(f"{API}/projects/{project['id']}", headers=owner.headers)
    assert r.status_code == 500
    assert r.json()["error"]["code"] == "internal_error"
    assert r.headers["x-request-id"]


def test_hot_reads_sit_inside_cors_and_the_request_context(app: FastAPI) -> None:
    order = [m.cls.__name__ for m in app.user_middleware]  # outermost first
    assert order[-1] == "HotReads"
    assert order.index("RequestContextMiddleware") < order.index("CorsMiddleware") < order.index("HotReads")


def test_the_routes_hot_reads_stand_in_for_take_nothing_else() -> None:
    """HotReads answers for these routes without FastAPI: a dependency, parameter or method added to one
    of them would be skipped. Such a route must leave HOT_READS (or HotReads learn the addition)."""
    from api.deps import READER_SCHEME

    for name, entry in hot.HOT_READS.items():
        dependant = entry.route.dependant
        assert entry.route.methods == {"GET"}, name
        assert [p.name for p in dependant.path_params] == [entry.param], name
        assert not dependant.query_params and not dependant.header_params and not dependant.cookie_params
        assert not dependant.body_params, name
        assert [d.call for d in dependant.dependencies] == [READER_SCHEME], name
        assert entry.route.path_format.endswith("/{" + entry.param + "}"), name
