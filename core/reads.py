"""Reads that skip SQLAlchemy's execution layer: statements built with Core and compiled once, run on the
psycopg connection of a connection checked out of the engine's own pool.

For the hot GET routes (api/services/reads.py). SQLAlchemy's session and result machinery cost more CPU
per request than the query itself: a one-row ORM read through a session spent ~3x the instructions of the
same statement sent with psycopg (bench/crud.py, docs/performance.md). The pool stays SQLAlchemy's (one
connection budget, the ping of idle connections, a failed connection and its generation dropped), so
only how a statement is sent differs. Rows come back as dicts keyed by the statement's column labels.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, cast

import anyio
import psycopg
import sqlalchemy as sa
from psycopg.rows import DictRow, dict_row, namedtuple_row
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.pool import Pool, PoolProxiedConnection
from sqlalchemy.util import greenlet_spawn

from core.tracing import statement_span

_DIALECT = PGDialect_psycopg()  # type: ignore[no-untyped-call]


@dataclass(frozen=True)
class Statement:
    """SQL text with `%(name)s` placeholders, compiled once from a Core select whose values all come
    from named bindparams, but for literals Core binds itself (`func.count() > 0`, a fixed LIMIT):
    those are `constants`, sent with every execution."""

    sql: str
    constants: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, select: sa.Select[Any]) -> Statement:
        compiled = select.compile(dialect=_DIALECT)
        constants = {name: bind.value for bind, name in compiled.bind_names.items() if bind.unique}
        # Plain values only: psycopg gets them as they are, without the column type's bind processing.
        odd = {name: value for name, value in constants.items() if type(value) not in (int, float, str, bool)}
        if odd:
            raise ValueError(f"bind {sorted(odd)} as sa.bindparam(name) and pass plain values")
        return cls(str(compiled), constants)

    def params(self, given: Mapping[str, Any]) -> Mapping[str, Any]:
        return {**self.constants, **given} if self.constants else given


class DriverReads:
    """Statements on one checked-out connection, in autocommit: each SELECT is its own snapshot, and
    there is no BEGIN or COMMIT round trip. psycopg prepares a statement run often on a connection."""

    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self._connection = connection

    async def one(self, statement: Statement, params: Mapping[str, Any]) -> DictRow | None:
        async with self._connection.cursor(row_factory=dict_row) as cursor:
            with statement_span(statement.sql):
                await cursor.execute(statement.sql, statement.params(params))
            return await cursor.fetchone()

    async def all(self, statement: Statement, params: Mapping[str, Any]) -> list[DictRow]:
        async with self._connection.cursor(row_factory=dict_row) as cursor:
            with statement_span(statement.sql):
                await cursor.execute(statement.sql, statement.params(params))
            return await cursor.fetchall()


@asynccontextmanager
async def driver_reads(engine: AsyncEngine) -> AsyncIterator[DriverReads]:
    """A connection of `engine`'s pool for reads only, back in the pool (as it came out) on exit.

    A connection the driver finds broken is dropped with every connection opened before it, as
    SQLAlchemy does on a disconnect, and the error goes on to the caller (503); one left in the middle
    of a statement (its request was cancelled) is closed. Any other error, an HTTP error raised in the
    block included, returns the connection as it came out."""
    pooled: PoolProxiedConnection = await greenlet_spawn(engine.sync_engine.raw_connection)
    driver = cast(psycopg.AsyncConnection[Any], pooled.driver_connection)
    error: BaseException | None = None
    try:
        await driver.set_autocommit(True)  # client-side only: no round trip
        yield DriverReads(driver)
    except BaseException as exc:
        error = exc
        raise
    finally:
        # Shielded: a cancelled request (the client went away) is cancelled again at every await inside
        # an anyio cancel scope, and the connection must still go back (or be dropped).
        with anyio.CancelScope(shield=True):
            await greenlet_spawn(_check_in, engine.sync_engine.pool, pooled, error)


def _check_in(pool: Pool, pooled: PoolProxiedConnection, error: BaseException | None) -> None:
    """Runs in SQLAlchemy's greenlet: the pool's connection adapter awaits the driver from there."""
    driver = cast(psycopg.AsyncConnection[Any], pooled.driver_connection)
    if isinstance(error, psycopg.Error) and (driver.closed or driver.broken):
        pool._invalidate(pooled, error)  # SQLAlchemy's own handling of a disconnect
    elif pooled.is_valid:
        try:
            pooled.dbapi_connection.autocommit = False  # type: ignore[union-attr]  # as the pool hands out
        except psycopg.Error as failed:  # still in a statement
            pooled.invalidate(failed)
    pooled.close()


_TEXTS: dict[str, str] = {}
_MAX_TEXTS = 256  # statement shapes kept compiled (search has a few dozen: modes, rankings, filters)


def driver_sql(text: str) -> str:
    """`text` with SQLAlchemy's `:name` binds as psycopg's `%(name)s` (literal `%` doubled), compiled
    once per text."""
    compiled = _TEXTS.get(text)
    if compiled is None:
        compiled = str(sa.text(text).compile(dialect=_DIALECT))
        if len(_TEXTS) < _MAX_TEXTS:
            _TEXTS[text] = compiled
    return compiled


async def session_rows(session: AsyncSession, text: str, params: Mapping[str, Any]) -> list[Any]:
    """The rows (named tuples) of a `sa.text`-style statement, sent with psycopg on the session's own
    connection, in its transaction: what `session.execute(sa.text(text), params).all()` gives, without
    SQLAlchemy's statement and result machinery (about 1 ms of CPU for a search's rows)."""
    connection = await session.connection()
    pooled = await connection.get_raw_connection()
    driver = cast(psycopg.AsyncConnection[Any], pooled.driver_connection)
    sql = driver_sql(text)
    async with driver.cursor(row_factory=namedtuple_row) as cursor:
        with statement_span(sql):
            await cursor.execute(sql, params)
        return await cursor.fetchall()
