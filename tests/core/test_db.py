"""The connection pool's idle ping and the read-only (autocommit) sessions of GET requests."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from api.deps import get_session
from api.resources import Resources
from core.db import create_engine
from core.models import Project
from core.settings import Settings
from tests.conftest import Factory


class _Request:
    def __init__(self, method: str) -> None:
        self.method = method


def _count_pings(engine: AsyncEngine) -> list[int]:
    pings = [0]
    original = engine.dialect.do_ping

    def counting(dbapi_connection: Any) -> bool:
        pings[0] += 1
        return original(dbapi_connection)

    engine.dialect.do_ping = counting  # type: ignore[method-assign]
    return pings


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())


async def _terminate(resources: Resources, pid: int) -> None:
    async with resources.engine.connect() as conn:
        await conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})


@contextlib.asynccontextmanager
async def one_connection(settings: Settings, ping_after_idle: float | None = None) -> AsyncIterator[Pinged]:
    """An engine of one pooled connection (optionally another idle threshold), counting its pings."""
    if ping_after_idle is not None:
        db = settings.db.model_copy(update={"ping_after_idle": ping_after_idle})
        settings = settings.model_copy(update={"db": db})
    engine = create_engine(settings, pool_size=1, max_overflow=0)
    try:
        yield Pinged(engine, _count_pings(engine))
    finally:
        await engine.dispose()


@dataclass
class Pinged:
    engine: AsyncEngine
    pings: list[int]


async def test_a_connection_used_a_moment_ago_is_not_pinged(settings: Settings) -> None:
    async with one_connection(settings) as pool:
        first = await _backend_pid(pool.engine)
        for _ in range(5):
            assert await _backend_pid(pool.engine) == first  # the same pooled connection
        assert pool.pings[0] == 0


async def test_an_idle_connection_killed_by_the_server_is_pinged_and_replaced(
    settings: Settings, resources: Resources
) -> None:
    async with one_connection(settings, ping_after_idle=0.2) as pool:
        old = await _backend_pid(pool.engine)
        await _terminate(resources, old)  # what a database restart does to every pooled connection
        await asyncio.sleep(0.3)  # the connection must sit idle past the threshold
        new = await _backend_pid(pool.engine)  # no error: the ping found it dead and the pool reconnected
        assert new != old
        assert pool.pings[0] == 1


async def test_a_connection_killed_while_in_use_fails_once_then_the_pool_recovers(
    settings: Settings, resources: Resources
) -> None:
    async with one_connection(settings) as pool:  # 1 s idle: no ping right away
        old = await _backend_pid(pool.engine)
        await _terminate(resources, old)
        with pytest.raises(DBAPIError) as failure:
            await _backend_pid(pool.engine)
        assert failure.value.connection_invalidated
        assert await _backend_pid(pool.engine) != old


async def test_ping_after_idle_zero_pings_on_every_checkout(settings: Settings) -> None:
    async with one_connection(settings, ping_after_idle=0.0) as pool:
        for _ in range(4):
            await _backend_pid(pool.engine)
        assert pool.pings[0] == 3  # every checkout but the one that opened the connection


async def _session_autocommit(resources: Resources, method: str) -> bool:
    sessions = get_session(_Request(method), resources)  # type: ignore[arg-type]
    session = await anext(sessions)
    try:
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        return bool(raw.driver_connection.autocommit)  # type: ignore[union-attr]
    finally:
        await sessions.aclose()


@pytest.mark.parametrize(
    ("method", "autocommit"), [("GET", True), ("HEAD", True), ("POST", False), ("PUT", False)]
)
async def test_get_and_head_requests_read_without_a_transaction(
    resources: Resources, method: str, autocommit: bool
) -> None:
    assert await _session_autocommit(resources, method) is autocommit


async def test_the_autocommit_pool_connection_goes_back_transactional(resources: Resources) -> None:
    """Both session factories share one pool: a connection returned by a GET is not left in autocommit."""
    for method in ["GET", "POST", "GET", "DELETE"]:
        assert await _session_autocommit(resources, method) is (method == "GET")


async def test_a_write_in_a_post_still_rolls_back_as_one_transaction(
    resources: Resources, factory: Factory
) -> None:
    owner = await factory.user()
    sessions = get_session(_Request("POST"), resources)  # type: ignore[arg-type]
    session = await anext(sessions)
    project_id = uuid.uuid4()
    session.add(Project(id=project_id, title="Never committed", owner_id=owner.id))
    await session.flush()
    with pytest.raises(RuntimeError):
        await sessions.athrow(RuntimeError("the route failed after the flush"))
    async with resources.sessionmaker() as check:
        assert await check.get(Project, project_id) is None
