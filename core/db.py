"""Database engine and session factory (SQLAlchemy 2 async on psycopg 3)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from core.settings import Settings


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
        "pool_pre_ping": True,
        "connect_args": connect_args,
    }
    engine_options.update(overrides)
    return create_async_engine(sqlalchemy_url(target), **engine_options)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
