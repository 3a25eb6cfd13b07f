"""Rate limits of the costly routes: search, global search, insights, suggestions, uploads, registration
and eval runs. Each budget is per user, then per project (or per client IP): past it, 429 with
Retry-After in the error shape, and the refused request changes nothing. Nobody spends the budget of a
project they cannot see."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from api.app import create_app
from api.resources import Resources
from core import keys
from core.models import Document, EvalRun, MemberRole, Transcription, User
from tests.conftest import Actor, Factory, Servers, make_settings
from tests.ingestion.helpers import drain, new_project
from tests.meetings.helpers import API, make_meeting, upload, vtt

WINDOW = 60


@dataclass
class Limited:
    http: httpx.AsyncClient
    resources: Resources


@contextlib.asynccontextmanager
async def limited(servers: Servers, budget: str, **limit: int) -> AsyncIterator[Limited]:
    """The app with one budget set low (the others as in every test: out of reach), every count at 0."""
    base = make_settings(servers)
    settings = make_settings(
        servers,
        limits={**base.limits.model_dump(), budget: {"per_user": 1000, "per_project": 1000, "per_ip": 1000,
                                                     "window": WINDOW, **limit}},
    )  # fmt: skip
    resources = Resources.open(settings)
    async for key in resources.redis.scan_iter(match=keys.rate_limit("*")):
        await resources.redis.delete(key)
    try:
        transport = httpx.ASGITransport(app=create_app(settings, resources=resources))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield Limited(http, resources)
    finally:
        await resources.close()


def assert_limited(r: httpx.Response) -> None:
    assert r.status_code == 429, r.text
    assert 1 <= int(r.headers["Retry-After"]) <= WINDOW
    assert r.json()["error"]["code"] == "rate_limited"


Call = Callable[[httpx.AsyncClient, Actor, str], Awaitable[httpx.Response]]


async def _search(http: httpx.AsyncClient, actor: Actor, project_id: str) -> httpx.Response:
    return await http.get(f"{API}/ai/search/{project_id}", params={"q": "presupuesto"}, headers=actor.headers)


async def _insights(http: httpx.AsyncClient, actor: Actor, project_id: str) -> httpx.Response:
    return await http.get(f"{API}/ai/insights/{project_id}", headers=actor.headers)


async def _suggestions(http: httpx.AsyncClient, actor: Actor, project_id: str) -> httpx.Response:
    return await http.get(f"{API}/ai/suggestions/{project_id}", headers=actor.headers)


async def _document_upload(http: httpx.AsyncClient, actor: Actor, project_id: str) -> httpx.Response:
    return await http.post(
        f"{API}/projects/{project_id}/documents/upload",
        files={"file": ("acta.md", b"# Acta\n\nTexto.", "text/markdown")},
        headers=actor.headers,
    )


PROJECT_ROUTES: dict[str, tuple[str, Call]] = {
    "search": ("search", _search),
    "insights": ("insights", _insights),
    "suggestions": ("suggestions", _suggestions),
    "document upload": ("uploads", _document_upload),
}


@pytest.fixture
async def project(client, factory: Factory, settings, resources) -> tuple[Actor, Actor, str]:
    """An owner and an editor of a project whose index is ready (search and insights answer 200)."""
    owner, editor = await factory.user(), await factory.user()
    project_id = await new_project(client, owner, description="Rediseño de la web.")
    await factory.member(uuid.UUID(project_id), editor, MemberRole.EDITOR)
    await drain(settings, resources)
    return owner, editor, project_id


@pytest.mark.parametrize("route", PROJECT_ROUTES)
async def test_a_users_budget_then_the_projects(servers, project, route: str) -> None:
    owner, editor, project_id = project
    budget, call = PROJECT_ROUTES[route]
    async with limited(servers, budget, per_user=2) as app:
        for _ in range(2):
            r = await call(app.http, owner, project_id)
            assert r.status_code in (200, 201), r.text
        assert_limited(await call(app.http, owner, project_id))
        r = await call(app.http, editor, project_id)  # another member has a budget of their own
        assert r.status_code in (200, 201), r.text
    async with limited(servers, budget, per_project=2) as app:
        for actor in (owner, editor):
            assert (await call(app.http, actor, project_id)).status_code in (200, 201)
        assert_limited(await call(app.http, owner, project_id))
        assert_limited(await call(app.http, editor, project_id))


@pytest.mark.parametrize("route", PROJECT_ROUTES)
async def test_nobody_spends_the_budget_of_a_project_they_cannot_see(
    servers, project, factory: Factory, route: str
) -> None:
    owner, _, project_id = project
    budget, call = PROJECT_ROUTES[route]
    stranger = await factory.user()
    async with limited(servers, budget, per_project=1) as app:
        for _ in range(3):
            assert (await call(app.http, stranger, project_id)).status_code == 404
        r = await call(app.http, owner, project_id)
        assert r.status_code in (200, 201), r.text


async def test_a_refused_upload_stores_nothing(servers, client, factory: Factory, resources) -> None:
    owner = await factory.user()
    project_id, meeting_id = await make_meeting(client, owner)
    _, second_meeting = await make_meeting(client, owner, project_id=project_id)
    async with limited(servers, "uploads", per_user=1) as app:
        r = await upload(app.http, owner, meeting_id, "a.vtt", vtt(("Ana", "Hola.")))
        assert r.status_code == 202, r.text
        assert_limited(await upload(app.http, owner, second_meeting, "b.vtt", vtt(("Ana", "Adiós."))))
        assert_limited(await _document_upload(app.http, owner, project_id))  # one budget for every upload
    async with resources.sessionmaker() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(Transcription)) == 1
        assert await session.scalar(sa.select(sa.func.count()).select_from(Document)) == 0


async def test_global_search_per_user_then_per_ip(servers, project) -> None:
    owner, editor, _ = project
    search = {"params": {"q": "presupuesto"}}
    async with limited(servers, "global_search", per_user=1) as app:
        assert (await app.http.get(f"{API}/search", headers=owner.headers, **search)).status_code == 200
        assert_limited(await app.http.get(f"{API}/search", headers=owner.headers, **search))
        assert (await app.http.get(f"{API}/search", headers=editor.headers, **search)).status_code == 200
    async with limited(servers, "global_search", per_ip=2) as app:  # the test client's one address
        for actor in (owner, editor):
            assert (await app.http.get(f"{API}/search", headers=actor.headers, **search)).status_code == 200
        assert_limited(await app.http.get(f"{API}/search", headers=owner.headers, **search))


async def test_registration_per_ip_and_a_refused_one_creates_no_account(servers, resources) -> None:
    async with limited(servers, "registration", per_ip=2) as app:
        for n in range(3):
            r = await app.http.post(
                f"{API}/auth/register", json={"email": f"u{n}@example.com", "password": "correct horse"}
            )
        assert_limited(r)
    async with resources.sessionmaker() as session:
        emails = set((await session.scalars(sa.select(User.email))).all())
    assert emails == {"u0@example.com", "u1@example.com"}


async def test_eval_runs_per_user(servers, factory: Factory, resources) -> None:
    admin = await factory.user(is_admin=True)
    body: dict[str, Any] = {"kind": "retrieval", "dataset": "agencia", "limit": 1}
    async with limited(servers, "eval_runs", per_user=1) as app:
        assert (await app.http.post(f"{API}/evals/runs", json=body, headers=admin.headers)).status_code == 202
        assert_limited(await app.http.post(f"{API}/evals/runs", json=body, headers=admin.headers))
    async with resources.sessionmaker() as session:
        assert await session.scalar(sa.select(sa.func.count()).select_from(EvalRun)) == 1
