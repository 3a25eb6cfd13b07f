"""Reads on the driver (core/reads.py): compiled statements, and connections that go back to the shared pool
as they came out of it, or not at all when they broke."""

from __future__ import annotations

import asyncio

import anyio
import psycopg
import pytest
import sqlalchemy as sa

from api.resources import Resources
from core.models import Meeting, MeetingStatus, Project
from core.reads import Statement, driver_reads
from core.settings import Settings
from tests.core.test_db import _backend_pid, _terminate, one_connection

PID = Statement.of(sa.select(sa.func.pg_backend_pid().label("pid")))


async def test_a_statement_keeps_the_literals_core_bound_and_takes_the_named_values(
    resources: Resources,
) -> None:
    statement = Statement.of(
        sa.select(sa.literal_column("1").label("one"), sa.bindparam("name", type_=sa.String).label("name"))
        .where(sa.func.length(sa.bindparam("name", type_=sa.String)) > 2)
        .limit(5)
    )
    assert list(statement.constants.values()) == [2, 5]
    async with driver_reads(resources.engine) as db:
        assert await db.all(statement, {"name": "abc"}) == [{"one": 1, "name": "abc"}]
        assert await db.one(statement, {"name": "ab"}) is None


def test_a_value_that_needs_the_column_types_processing_must_be_a_named_parameter() -> None:
    with pytest.raises(ValueError, match="bindparam"):
        Statement.of(sa.select(Meeting.id).where(Meeting.status == MeetingStatus.COMPLETED))
    Statement.of(sa.select(Project.id).where(Project.is_eval.is_(False)))  # rendered, not bound


async def test_the_connection_goes_back_to_the_pool_out_of_autocommit(settings: Settings) -> None:
    async with one_connection(settings) as pool:
        first = await _backend_pid(pool.engine)
        async with driver_reads(pool.engine) as db:
            row = await db.one(PID, {})
            assert row == {"pid": first}  # the pool's one connection
            status = await db.one(Statement.of(sa.select(sa.text("1 AS x"))), {})
            assert status == {"x": 1}
        async with pool.engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            assert driver.autocommit is False  # type: ignore[union-attr]
            await conn.execute(sa.text("SELECT 1"))
            # a transaction on the server, as SQLAlchemy expects
            assert driver.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS  # type: ignore[union-attr]
        assert await _backend_pid(pool.engine) == first
        assert pool.engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_connection_killed_while_in_use_fails_once_then_the_pool_recovers(
    settings: Settings, resources: Resources
) -> None:
    async with one_connection(settings) as pool:  # 1 s idle: no ping right away
        old = await _backend_pid(pool.engine)
        await _terminate(resources, old)
        with pytest.raises(psycopg.OperationalError):
            async with driver_reads(pool.engine) as db:
                await db.one(PID, {})
        async with driver_reads(pool.engine) as db:
            row = await db.one(PID, {})
        assert row is not None and row["pid"] != old
        assert pool.engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_read_cancelled_in_the_middle_of_a_statement_leaves_no_busy_connection_behind(
    settings: Settings,
) -> None:
    sleep = Statement.of(sa.select(sa.func.pg_sleep(sa.bindparam("seconds", type_=sa.Float)).label("slept")))

    async def slow() -> None:
        async with driver_reads(pool.engine) as db:
            await db.one(sleep, {"seconds": 5})

    async with one_connection(settings) as pool:
        task = asyncio.create_task(slow())
        await asyncio.sleep(0.3)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with driver_reads(pool.engine) as db:  # the pool's one connection works, or was replaced
            assert await db.one(Statement.of(sa.select(sa.text("2 AS x"))), {}) == {"x": 2}
        assert pool.engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]


async def test_a_failed_statement_or_an_error_in_the_block_gives_the_same_connection_back(
    settings: Settings,
) -> None:
    divide = Statement.of(sa.select((sa.bindparam("n", type_=sa.Integer) / 0).label("x")))
    async with one_connection(settings) as pool:
        first = await _backend_pid(pool.engine)
        with pytest.raises(psycopg.errors.DivisionByZero):
            async with driver_reads(pool.engine) as db:
                await db.one(divide, {"n": 1})

        async def not_found() -> None:  # e.g. the route's 404, raised while the connection is out
            async with driver_reads(pool.engine) as db:
                await db.one(PID, {})
                raise LookupError("not found")

        with pytest.raises(LookupError):
            await not_found()
        assert pool.engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        assert await _backend_pid(pool.engine) == first  # not dropped: it was fine


async def test_a_read_in_a_cancel_scope_that_fires_mid_statement_still_returns_its_connection(
    settings: Settings,
) -> None:
    # Starlette cancels a request whose client went away with an anyio cancel scope, which cancels
    # every await inside it again (core/reads.py shields the check-in for that).
    sleep = Statement.of(sa.select(sa.func.pg_sleep(sa.bindparam("seconds", type_=sa.Float)).label("slept")))
    async with one_connection(settings) as pool:
        with anyio.move_on_after(0.3) as scope:
            async with driver_reads(pool.engine) as db:
                await db.one(sleep, {"seconds": 5})
        assert scope.cancelled_caught
        assert pool.engine.sync_engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        async with driver_reads(pool.engine) as db:
            assert await db.one(Statement.of(sa.select(sa.text("3 AS x"))), {}) == {"x": 3}
