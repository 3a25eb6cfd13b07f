"""OWASP API Security top-10 cases that apply to this API.

Covered elsewhere (not repeated here):
- API1 broken object level authorization, on every id-bearing route: tests/api/test_access_matrix.py,
  and across projects in retrieval: tests/retrieval/test_scoping.py.
- API2 broken authentication (alg none, expired tokens, tokens signed with another secret):
  tests/api/test_auth.py.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from api.app import create_app
from api.resources import Resources
from core.models import User
from tests.conftest import Factory, Servers, make_settings

SECRET_FIELDS = ("password", "password_hash", "hashed_password", "token_hash", "secret", "refresh_token_hash")


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/v1/projects", {"title": "P", "owner_id": "00000000-0000-0000-0000-000000000001"}),
        ("/api/v1/projects", {"title": "P", "created_by_id": "00000000-0000-0000-0000-000000000001"}),
        ("/api/v1/clients", {"name": "C", "owner_id": "00000000-0000-0000-0000-000000000001"}),
        (
            "/api/v1/auth/register",
            {"email": "mass@example.com", "password": "password-1234", "full_name": "M", "is_admin": True},
        ),
    ],
)
async def test_mass_assignment_of_owner_or_admin_fields_is_rejected(
    client: httpx.AsyncClient, factory: Factory, db: Any, path: str, body: dict[str, Any]
) -> None:
    user = await factory.user()
    r = await client.post(path, json=body, headers=user.headers)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["code"] == "invalid"
    admins = await db.scalar(sa.select(sa.func.count()).select_from(User).where(User.is_admin))
    assert admins == 0


async def test_a_user_cannot_make_themselves_admin(
    client: httpx.AsyncClient, factory: Factory, db: Any
) -> None:
    user = await factory.user()
    r = await client.put(f"/api/v1/users/{user.id}", json={"is_admin": True}, headers=user.headers)
    assert r.status_code in (403, 422), r.text
    stored = await db.scalar(sa.select(User.is_admin).where(User.id == user.id))
    assert stored is False


def _walk(value: Any, path: str = "") -> list[str]:
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            if str(key).lower() in SECRET_FIELDS:
                found.append(f"{path}.{key}")
            found += _walk(item, f"{path}.{key}")
    elif isinstance(value, list):
        for n, item in enumerate(value):
            found += _walk(item, f"{path}[{n}]")
    return found


async def test_no_response_of_a_full_walk_exposes_a_hash_or_secret(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    admin = await factory.user(is_admin=True)
    r = await client.post(
        "/api/v1/auth/register",
        json={"email": "walker@example.com", "password": "password-1234", "full_name": "Walker"},
    )
    assert r.status_code == 201
    bodies: list[tuple[str, Any]] = [("register", r.json())]
    r = await client.post(
        "/api/v1/auth/login", json={"email": "walker@example.com", "password": "password-1234"}
    )
    assert r.status_code == 200
    r = await client.post("/api/v1/clients", json={"name": "Acme"}, headers=admin.headers)
    assert r.status_code == 201
    client_id = r.json()["id"]
    r = await client.post(
        "/api/v1/projects", json={"title": "Web", "client_id": client_id}, headers=admin.headers
    )
    assert r.status_code == 201, r.text
    project_id = r.json()["id"]
    r = await client.post(
        f"/api/v1/projects/{project_id}/documents",
        json={"title": "Acta", "content": "password: hunter2"},
        headers=admin.headers,
    )
    assert r.status_code == 201
    for path in [
        "/api/v1/auth/me",
        "/api/v1/users",
        f"/api/v1/users/{admin.id}",
        "/api/v1/clients",
        f"/api/v1/clients/{client_id}",
        "/api/v1/projects",
        f"/api/v1/projects/{project_id}",
        f"/api/v1/projects/{project_id}/members",
        f"/api/v1/projects/{project_id}/documents",
        f"/api/v1/projects/{project_id}/stats",
        "/api/v1/meetings",
        "/health/ready",
    ]:
        r = await client.get(path, headers=admin.headers)
        assert r.status_code in (200, 503), (path, r.text)
        bodies.append((path, r.json()))
    exposed = [(path, field) for path, body in bodies for field in _walk(body)]
    assert exposed == []


async def test_login_is_rate_limited_with_retry_after(client: httpx.AsyncClient, factory: Factory) -> None:
    await factory.user("victim@example.com")
    statuses = []
    for _ in range(6):  # the test settings allow 5 per window
        r = await client.post(
            "/api/v1/auth/login", json={"email": "victim@example.com", "password": "wrong-pass"}
        )
        statuses.append(r.status_code)
    assert statuses == [401] * 5 + [429]
    assert int(r.headers["Retry-After"]) >= 1
    assert r.json()["error"]["code"] == "rate_limited"


@pytest.mark.parametrize("scope", ["user", "project"])
async def test_ai_routes_are_rate_limited_per_user_and_per_project(
    servers: Servers, factory: Factory, scope: str
) -> None:
    limits = {"ai_rate_limit": 2, "ai_project_rate_limit": 1000}
    if scope == "project":
        limits = {"ai_rate_limit": 1000, "ai_project_rate_limit": 2}
    settings = make_settings(servers, retrieval=limits)
    resources = Resources.open(settings)
    try:
        app = create_app(settings, resources=resources)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            owner = await factory.user()
            other = await factory.user()
            r = await http.post("/api/v1/projects", json={"title": "Limited"}, headers=owner.headers)
            project_id = r.json()["id"]
            r = await http.post(
                f"/api/v1/projects/{project_id}/members",
                json={"user_id": str(other.id), "role": "viewer"},
                headers=owner.headers,
            )
            assert r.status_code in (200, 201), r.text
            statuses = []
            for actor in (owner, owner, other if scope == "project" else owner):
                r = await http.get(
                    f"/api/v1/ai/ask/{project_id}", params={"q": "plazo"}, headers=actor.headers
                )
                statuses.append(r.status_code)
            assert statuses[:2] != [429, 429]
            assert statuses[2] == 429, statuses
            assert int(r.headers["Retry-After"]) >= 1
            assert r.json()["error"]["code"] == "rate_limited"
            if scope == "user":
                # Another user on the same project still has their own budget.
                r = await http.get(
                    f"/api/v1/ai/ask/{project_id}", params={"q": "plazo"}, headers=other.headers
                )
                assert r.status_code != 429
    finally:
        await resources.close()
