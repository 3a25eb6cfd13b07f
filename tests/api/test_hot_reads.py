"""api/hot.py answers a project and a meeting read, and a page of either list, below FastAPI's router: every
answer it gives must be the router's own, byte for byte with the same status and headers, for every caller,
every query and every failure, and the requests it must not take (a non-canonical or invalid id, a query
the route would refuse or read differently, another method, a root path) reach the router."""

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
from tests.api.crud_helpers import API, access_callers, make_client, make_meeting, make_project
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
    calls = {"hot": 0, "lists": 0}
    for name, entry in hot.HOT_READS.items():
        original = entry.read

        async def read(reader: Any, item_id: uuid.UUID, _original: Any = original) -> bytes:
            calls["hot"] += 1
            return await _original(reader, item_id)

        monkeypatch.setitem(hot.HOT_READS, name, hot.HotRead(entry.route, entry.param, read))
    for name, listing in hot.HOT_LISTS.items():
        original = listing.read

        async def read_page(reader: Any, query: Any, _original: Any = original) -> bytes:
            calls["lists"] += 1
            return await _original(reader, query)

        monkeypatch.setitem(hot.HOT_LISTS, name, hot.HotList(listing.route, listing.query, read_page))
    return calls


async def test_hot_reads_answer_what_the_router_answers_for_every_caller(
    client: httpx.AsyncClient,
    router_only: httpx.AsyncClient,
    factory: Factory,
    resources: Resources,
    counted: dict[str, int],
) -> None:
    owner, viewer, stranger, admin = await access_callers(factory)
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


async def test_hot_lists_answer_what_the_router_answers_for_every_caller_and_query(
    client: httpx.AsyncClient,
    router_only: httpx.AsyncClient,
    factory: Factory,
    counted: dict[str, int],
) -> None:
    owner, viewer, stranger, admin = await access_callers(factory)
    disabled = await factory.user(is_active=False)
    customer = await make_client(client, owner, name="Bodega")
    shown = await make_project(client, owner, title="Hot — ñ", priority="high", client_id=customer["id"])
    other = await make_project(client, owner, title="Otra", status="in-progress")
    hidden = await make_project(client, stranger, title="Ajeno")
    await factory.member(uuid.UUID(shown["id"]), viewer, MemberRole.VIEWER)
    for n, starts in enumerate(["2026-01-05T10:00:00Z", "2026-02-05T10:00:00Z", "2026-03-05T10:00:00Z"]):
        await make_meeting(client, owner, shown["id"], title=f"Reunión {n}", start_time=starts)
    await make_meeting(client, owner, other["id"], title="Otra reunión")
    await make_meeting(client, stranger, hidden["id"], title="Reunión ajena")

    taken = [  # a page HotReads answers itself: every key known, once, with a value the model accepts
        "",
        "?limit=2",
        "?limit=1&offset=1",
        "?offset=50",  # past the end: the total alone
        "?sort=-title",
        "?sort=created_at&limit=3",
        "?sort=nonsense",  # the model takes any text; the read refuses it with the route's 422
        "?limit=100",
    ]
    project_only = [
        "?q=hot",
        "?q=%C3%B1",  # ñ, percent-encoded UTF-8
        "?q=",  # empty: no filter, as in the route
        "?q=100%25_",  # LIKE's own characters are matched literally
        "?status=in-progress",
        "?priority=high&status=planned",
        f"?client_id={customer['id']}",
        f"?client_id={uuid.uuid4()}",
    ]
    meeting_only = [
        f"?project_id={shown['id']}",
        f"?project_id={shown['id']}&starts_after=2026-01-31T00:00:00Z&sort=-start_time",
        f"?project_id={shown['id']}&starts_before=2026-02-28T00:00:00%2B01:00&status=scheduled",
        f"?project_id={hidden['id']}",  # not visible: 404, as the route answers
        f"?project_id={uuid.uuid4()}",
        "?starts_after=2026-02-01",  # a date alone: the datetime's validator takes it as the route does
    ]
    refused = [  # the router answers these (422s, and queries it reads in its own way)
        "?limit=0",
        "?limit=101",
        "?limit=abc",
        "?offset=-1",
        "?limit=2&limit=3",  # a key given twice
        "?unused=1",  # a key the route does not read
        "?status=nope",
        "?q=" + "x" * 201,
        "?project_id=not-a-uuid",
        "?starts_after=yesterday",
    ]
    callers: list[dict[str, str]] = [
        owner.headers,
        viewer.headers,
        stranger.headers,
        admin.headers,
        disabled.headers,
        {},
        {"Authorization": "Bearer not-a-token"},
    ]
    statuses: list[int] = []
    for listing, queries in (("projects", project_only), ("meetings", meeting_only)):
        for query in [*taken, *queries, *refused]:
            for headers in callers:
                response = await same_answer(client, router_only, f"{API}/{listing}{query}", headers)
                statuses.append(response.status_code)
    verified = 4  # owner, viewer, stranger, admin (the disabled user's token verifies, then fails: 401)
    taken_requests = (2 * len(taken) + len(project_only) + len(meeting_only)) * (verified + 1)
    assert counted["lists"] == taken_requests
    assert counted["hot"] == 0
    assert set(statuses) == {200, 401, 404, 422}

    page = (
        await client.get(f"{API}/meetings?project_id={shown['id']}&limit=2", headers=viewer.headers)
    ).json()
    assert page["total"] == 3 and len(page["items"]) == 2 and page["limit"] == 2
    titles = {
        p["title"] for p in (await client.get(f"{API}/projects", headers=admin.headers)).json()["items"]
    }
    assert {"Hot — ñ", "Otra", "Ajeno"} <= titles


def test_the_routes_hot_reads_stand_in_for_take_nothing_else() -> None:
    """HotReads answers for these routes without FastAPI: a dependency, parameter or method added to one
    of them would be skipped. Such a route must leave HOT_READS / HOT_LISTS (or HotReads learn the
    addition); a list route's whole query is the one model HotReads validates."""
    from api.deps import READER_SCHEME

    for name, entry in hot.HOT_READS.items():
        dependant = entry.route.dependant
        assert entry.route.methods == {"GET"}, name
        assert [p.name for p in dependant.path_params] == [entry.param], name
        assert not dependant.query_params and not dependant.header_params and not dependant.cookie_params
        assert not dependant.body_params, name
        assert [d.call for d in dependant.dependencies] == [READER_SCHEME], name
        assert entry.route.path_format.endswith("/{" + entry.param + "}"), name
    for name, listing in hot.HOT_LISTS.items():
        dependant = listing.route.dependant
        assert listing.route.methods == {"GET"}, name
        assert listing.route.path_format == f"/{name}", name  # the router is mounted at API_PREFIX
        assert [p.field_info.annotation for p in dependant.query_params] == [listing.query], name
        assert not dependant.path_params and not dependant.header_params and not dependant.cookie_params
        assert not dependant.body_params, name
        assert [d.call for d in dependant.dependencies] == [READER_SCHEME], name
