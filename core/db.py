"""Database engine and session factory (SQLAlchemy 2 async on psycopg 3)."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

from core.settings import Settings
from core.tracing import instrument_engine


def sqlalchemy_url(url: str) -> str:
    """Accept the usual `postgresql://` / `postgres://` forms and pick the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    raise ValueError("DATABASE_URL must start with postgresql://")


def libpq_url(url: str) -> str:
    """The same URL for plain psycopg / libpq."""
    return "postgresql://" + sqlalchemy_url(url)[len("postgresql+psycopg://") :]


def create_engine(settings: Settings, url: str | None = None, **overrides: Any) -> AsyncEngine:
    target = url or settings.database_url
    if not target:
        raise ValueError("no database URL: set DATABASE_URL or start the embedded server first")
    connect_args: dict[str, Any] = {"application_name": "v1tr0"}
    # HNSW: read enough candidates, and keep scanning when filters (project scope) drop some (pgvector 0.8).
    options = [f"-c hnsw.ef_search={settings.retrieval.ef_search}", "-c hnsw.iterative_scan=relaxed_order"]
    if settings.db.statement_timeout_ms:
        options.append(f"-c statement_timeout={settings.db.statement_timeout_ms}")
    connect_args["options"] = " ".join(options)
    if settings.db.pgbouncer:
        # Transaction pooling cannot keep server-side prepared statements between transactions.
        connect_args["prepare_threshold"] = None
    engine_options: dict[str, Any] = {
        "pool_size": settings.db.pool_size,
        "max_overflow": settings.db.max_overflow,
        "pool_timeout": settings.db.pool_timeout,
        "connect_args": connect_args,
    }
    engine_options.update(overrides)
    engine = create_async_engine(sqlalchemy_url(target), **engine_options)
    if not engine_options.get("pool_pre_ping"):
        ping_after_idle(engine, settings.db.ping_after_idle)
    if settings.tracing.enabled:
        instrument_engine(engine)
    return engine


def ping_after_idle(engine: AsyncEngine, idle_seconds: float) -> None:
    """Check a pooled connection with a round trip only when it sat idle `idle_seconds` or longer.

    SQLAlchemy's pool_pre_ping costs a round trip on every checkout, one of five on a simple read. A
    connection used a moment ago is very likely alive; one that waited through a database restart is
    pinged, found dead and replaced before the request uses it. A connection that breaks under a busy
    request still fails that request (503) and makes the pool drop every connection opened before it."""
    dialect = engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(dbapi_connection: DBAPIConnection | None, record: ConnectionPoolEntry) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(
        dbapi_connection: DBAPIConnection, record: ConnectionPoolEntry, proxy: PoolProxiedConnection
    ) -> None:
        since = record.info.get("checked_in_at")
        if since is None or time.monotonic() - since < idle_seconds:
            return  # just connected, or used a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool discards this connection and checks out another
            raise exc.DisconnectionError(str(error)) from error


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


def create_read_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions in autocommit for read-only requests: no BEGIN and COMMIT round trips around one or two
    SELECTs (each statement of READ COMMITTED already sees its own snapshot). Same pool as the engine."""
    return async_sessionmaker(
        engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False, autoflush=False
    )
