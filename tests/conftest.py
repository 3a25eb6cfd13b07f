"""Test fixtures: real PostgreSQL (pgvector) and Redis for the whole run, clean tables for every test.

With DATABASE_URL and REDIS_URL set, tests use those servers (a dedicated database is created);
otherwise they start the same embedded servers `make run` uses, under a temporary data dir, and stop
them at the end.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import redis.asyncio as aioredis
import sqlalchemy as sa
from fastapi import FastAPI

from api.app import create_app
from api.resources import Resources
from core.db import libpq_url
from core.embedded import EmbeddedServices, free_port
from core.migrate import upgrade
from core.models import Base, MemberRole, ProjectMember, User
from core.security import configure_hasher, create_access_token
from core.settings import LimitsSettings, Settings

LIMITS = tuple(LimitsSettings.model_fields)
TEST_SECRET = "test-secret-key-that-is-long-enough-for-hs256-0123456789"
TEST_DATABASE = "v1tr0_test"


@dataclass
class Servers:
    admin_url: str  # a database we may CREATE DATABASE from
    database_url: str
    redis_url: str
    data_dir: Path


def _with_database(url: str, name: str) -> str:
    head, _, query = url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{name}" + (f"?{query}" if query else "")


def _no_durability(admin_url: str) -> None:
    """A throw-away test server need not survive a power cut: no fsync makes CREATE/DROP DATABASE and
    commits cheap on a busy disk."""
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            conn.execute(f"ALTER SYSTEM SET {setting} = off")
        conn.execute("SELECT pg_reload_conf()")


def _recreate_database(admin_url: str, name: str) -> None:
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    configure_hasher(time_cost=1, memory_cost=1024, parallelism=1)
    data_dir = Path(tempfile.mkdtemp(prefix="v1tr0-test-"))
    external_db = os.environ.get("DATABASE_URL")
    external_redis = os.environ.get("REDIS_URL")
    embedded: EmbeddedServices | None = None
    if external_db and external_redis:
        admin_url, redis_url = external_db, external_redis
    else:
        embedded = EmbeddedServices(data_dir, redis_port=free_port()).start()
        admin_url, redis_url = embedded.database_url, embedded.redis_url
        _no_durability(admin_url)
    database_url = _with_database(admin_url, TEST_DATABASE)
    _recreate_database(admin_url, TEST_DATABASE)
    upgrade(database_url)
    try:
        yield Servers(admin_url, database_url, redis_url, data_dir)
    finally:
        if embedded is not None:
            embedded.stop()
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(servers: Servers) -> Settings:
    return make_settings(servers)


def make_settings(servers: Servers, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "environment": "test",
        "database_url": servers.database_url,
        "redis_url": servers.redis_url,
        "data_dir": servers.data_dir,
        "auth": {"secret_key": TEST_SECRET, "login_rate_limit": 5, "login_rate_window": 60},
        "log": {"level": "WARNING", "json_format": True},
        "embedding": {"provider": "static"},
        # Statistics read in every search: tests compare the two BM25 ways' scores over corpora they have
        # just written (tests/retrieval/test_lexical.py checks the cache on its own).
        "retrieval": {"ai_rate_limit": 1000, "ai_project_rate_limit": 1000, "bm25_statistics_ttl": 0},
        # Tests of one route call it more often than a person would; tests/api/test_rate_limits.py sets
        # its own.
        "limits": {name: dict.fromkeys(("per_user", "per_project", "per_ip"), 10_000) for name in LIMITS},
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture(scope="session")
async def resources(settings: Settings) -> AsyncIterator[Resources]:
    res = Resources.open(settings)
    try:
        yield res
    finally:
        await res.close()


@pytest.fixture(scope="session")
def app(settings: Settings, resources: Resources) -> FastAPI:
    return create_app(settings, resources=resources)


TABLES = ", ".join(f'"{table.name}"' for table in reversed(Base.metadata.sorted_tables))


@pytest.fixture(autouse=True)
async def clean_state(request: pytest.FixtureRequest) -> None:
    """Every test that touches the servers starts from empty tables and an empty Redis."""
    if "resources" in request.fixturenames:
        res: Resources = request.getfixturevalue("resources")
        async with res.engine.begin() as conn:
            await conn.execute(sa.text(f"TRUNCATE {TABLES} RESTART IDENTITY CASCADE"))
        # pg_textsearch 1.0 keeps each connection's view of a BM25 index in that backend; after a
        # TRUNCATE (a new relfilenode) only new connections see the emptied index (docs/deploy.md).
        await res.engine.dispose()
        await res.redis.flushdb()


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


@pytest.fixture
async def db(resources: Resources) -> AsyncIterator[Any]:
    async with resources.sessionmaker() as session:
        yield session


@dataclass
class Actor:
    user: User
    headers: dict[str, str]

    @property
    def id(self) -> uuid.UUID:
        return self.user.id


class Factory:
    """Creates users (with tokens) and projects straight in the database, for test set-up."""

    def __init__(self, resources: Resources, settings: Settings) -> None:
        self.resources = resources
        self.settings = settings

    async def user(self, email: str | None = None, *, is_admin: bool = False, **fields: Any) -> Actor:
        async with self.resources.sessionmaker() as session:
            user = User(
                email=email or f"user-{uuid.uuid4().hex[:8]}@example.com",
                full_name=fields.pop("full_name", "Test User"),
                is_admin=is_admin,
                **fields,
            )
            session.add(user)
            await session.commit()
        token = create_access_token(user_id=user.id, secret=TEST_SECRET, ttl_seconds=600)
        return Actor(user=user, headers={"Authorization": f"Bearer {token}"})

    async def member(self, project_id: uuid.UUID, actor: Actor, role: MemberRole) -> None:
        async with self.resources.sessionmaker() as session:
            session.add(ProjectMember(project_id=project_id, user_id=actor.id, role=role))
            await session.commit()


@pytest.fixture
def factory(resources: Resources, settings: Settings) -> Factory:
    return Factory(resources, settings)


@pytest.fixture
def redis_client(servers: Servers) -> aioredis.Redis:
    return aioredis.Redis.from_url(servers.redis_url)


def add_failing_routes(
    app: FastAPI, engine: Any, *, error: str, statement: str = "SELECT 1 FROM no_such_table"
) -> FastAPI:
    """Test-only routes that fail the way bugs do: an exception and SQL on a table that does not exist."""
    from fastapi import APIRouter

    router = APIRouter(prefix="/test-only")

    @router.get("/boom")
    async def boom() -> dict[str, str]:
        raise RuntimeError(error)

    @router.get("/bad-sql")
    async def bad_sql() -> dict[str, str]:
        async with engine.connect() as conn:
            await conn.execute(sa.text(statement))
        return {}

    app.include_router(router)
    return app
