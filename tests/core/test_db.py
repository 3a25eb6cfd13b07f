"""The connection pool's idle ping and the read-only (autocommit) sessions of GET requests."""

from __future__ import annotations

import asyncio
import uuid
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


async def test_a_connection_used_a_moment_ago_is_not_pinged(settings: Settings) -> None:
    engine = create_engine(settings, pool_size=1, max_overflow=0)
    try:
        pings = _count_pings(engine)
        first = await _backend_pid(engine)
        for _ in range(5):
            assert await _backend_pid(engine) == first  # the same pooled connection
        assert pings[0] == 0
    finally:
        await engine.dispose()


async def test_an_idle_connection_killed_by_the_server_is_pinged_and_replaced(
    settings: Settings, resources: Resources
) -> None:
    tuned = settings.model_copy(update={"db": settings.db.model_copy(update={"ping_after_idle": 0.2})})
    engine = create_engine(tuned, pool_size=1, max_overflow=0)
    try:
        pings = _count_pings(engine)
        old = await _backend_pid(engine)
        await _terminate(resources, old)  # what a database restart does to every pooled connection
        await asyncio.sleep(0.3)
        new = await _backend_pid(engine)  # no error: the ping found it dead and the pool reconnected
        assert new != old
        assert pings[0] == 1
    finally:
        await engine.dispose()


async def test_a_connection_killed_while_in_use_fails_once_then_the_pool_recovers(
    settings: Settings, resources: Resources
) -> None:
    engine = create_engine(settings, pool_size=1, max_overflow=0)  # 1 s idle: no ping right away
    try:
        old = await _backend_pid(engine)
        await _terminate(resources, old)
        with pytest.raises(DBAPIError) as failure:
            await _backend_pid(engine)
        assert failure.value.connection_invalidated
        assert await _backend_pid(engine) != old
    finally:
        await engine.dispose()


async def test_ping_after_idle_zero_pings_on_every_checkout(settings: Settings) -> None:
    tuned = settings.model_copy(update={"db": settings.db.model_copy(update={"ping_after_idle": 0.0})})
    engine = create_engine(tuned, pool_size=1, max_overflow=0)
    try:
        pings = _count_pings(engine)
        for _ in range(4):
            await _backend_pid(engine)
        assert pings[0] == 3  # every checkout but the one that opened the connection
    finally:
        await engine.dispose()


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
