"""Migrations on a database of their own: `upgrade head` gives exactly the models' schema (autogenerate finds
nothing to do), downgrade/upgrade round-trips, and chunks hold vectors of several models side by side, each
searched through its own partial HNSW index."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.engine import Engine

from core.db import libpq_url, sqlalchemy_url
from core.migrate import alembic_config, downgrade, include_object, upgrade
from core.models import Base
from tests.conftest import _with_database

STATIC_MODEL = "static/tokenlearn-64"
E5_MODEL = "e5/multilingual-e5-small"
HNSW_INDEXES = {
    "ix_chunks_hnsw_static_tokenlearn_64",
    "ix_chunks_hnsw_e5_multilingual_e5_small",
    "ix_chunks_hnsw_openai_text_embedding_3_small",
}


@pytest.fixture
def database_url(servers) -> Iterator[str]:
    """A database created for this test (empty: no extension, no table) and dropped after it."""
    name = f"v1tr0_migrations_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_url(servers.admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _with_database(servers.admin_url, name)
    finally:
        with psycopg.connect(libpq_url(servers.admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = sa.create_engine(sqlalchemy_url(database_url), poolclass=sa.NullPool)
    try:
        yield engine
    finally:
        engine.dispose()


def table_names(engine: Engine) -> set[str]:
    return set(sa.inspect(engine).get_table_names())


def hnsw_indexes(engine: Engine) -> set[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT indexname FROM pg_indexes "
                "WHERE tablename = 'chunks' AND indexname LIKE 'ix_chunks_hnsw_%'"
            )
        )
        return set(rows.scalars())


def schema_differences(engine: Engine) -> list[object]:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "target_metadata": Base.metadata,
                "include_object": include_object,
                "compare_type": True,
                "compare_server_default": False,
            },
        )
        return list(compare_metadata(context, Base.metadata))


def vector_literal(dimensions: int, hot: int) -> str:
    return "[" + ",".join("1" if i == hot else "0.01" for i in range(dimensions)) + "]"


def add_project(conn: sa.Connection) -> uuid.UUID:
    project_id = uuid.uuid4()
    conn.execute(sa.text("INSERT INTO projects (id, title) VALUES (:id, 'P')"), {"id": project_id})
    return project_id


def add_chunk(conn: sa.Connection, project_id: uuid.UUID, *, model: str, index: int, vector: str) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO chunks (project_id, source_type, source_id, chunk_index, content, content_hash, "
            "token_count, embedding, embedding_model) VALUES (:project_id, 'document', :source_id, :index, "
            ":content, 'h', 3, CAST(:vector AS vector), :model)"
        ),
        {
            "project_id": project_id,
            "source_id": uuid.UUID(int=index),
            "index": index,
            "content": f"chunk number {index}",
            "vector": vector,
            "model": model,
        },
    )


def test_upgrade_head_gives_the_models_schema(database_url: str, engine: Engine) -> None:
    assert table_names(engine) == set()

    upgrade(database_url)

    assert table_names(engine) == set(Base.metadata.tables) | {"alembic_version"}
    assert hnsw_indexes(engine) == HNSW_INDEXES
    assert schema_differences(engine) == []
    # The same check through migrations/env.py, as `alembic check` runs it.
    command.check(alembic_config(database_url))


def test_autogenerate_notices_a_difference(database_url: str, engine: Engine) -> None:
    """The comparison above can fail: a column the models have and the database lacks is reported."""
    upgrade(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE projects DROP COLUMN deadline"))

    differences = schema_differences(engine)

    assert [(diff[0], diff[3].name) for diff in differences if isinstance(diff, tuple)] == [
        ("add_column", "deadline")
    ]


def test_downgrade_to_base_and_upgrade_again_round_trips(database_url: str, engine: Engine) -> None:
    upgrade(database_url)

    downgrade(database_url, "base")
    assert table_names(engine) == {"alembic_version"}
    assert hnsw_indexes(engine) == set()

    upgrade(database_url)
    assert table_names(engine) == set(Base.metadata.tables) | {"alembic_version"}
    assert hnsw_indexes(engine) == HNSW_INDEXES
    assert schema_differences(engine) == []


def test_chunks_hold_several_models_and_search_through_the_models_index(
    database_url: str, engine: Engine
) -> None:
    upgrade(database_url)
    with engine.begin() as conn:
        project_id = add_project(conn)
        for index in range(20):
            add_chunk(conn, project_id, model=STATIC_MODEL, index=index, vector=vector_literal(64, index))
            add_chunk(conn, project_id, model=E5_MODEL, index=index, vector=vector_literal(384, index))

    with engine.begin() as conn:
        dimensions = dict(
            conn.execute(
                sa.text(
                    "SELECT embedding_model, min(vector_dims(embedding)) FROM chunks "
                    "GROUP BY embedding_model "
                    "HAVING min(vector_dims(embedding)) = max(vector_dims(embedding))"
                )
            ).all()
        )
        assert dimensions == {STATIC_MODEL: 64, E5_MODEL: 384}

        query = (
            "SELECT chunk_index FROM chunks WHERE embedding_model = :model "
            "ORDER BY (embedding::vector(64)) <=> CAST(:query AS vector(64)) LIMIT 3"
        )
        params = {"model": STATIC_MODEL, "query": vector_literal(64, 7)}
        conn.execute(sa.text("SET LOCAL enable_seqscan = off"))
        plan = "\n".join(conn.execute(sa.text("EXPLAIN " + query), params).scalars())
        assert "ix_chunks_hnsw_static_tokenlearn_64" in plan, plan
        nearest = conn.execute(sa.text(query), params).scalars().all()
        assert nearest[0] == 7


def test_deleting_a_project_deletes_its_chunks(database_url: str, engine: Engine) -> None:
    upgrade(database_url)
    with engine.begin() as conn:
        doomed, kept = add_project(conn), add_project(conn)
        for index in range(3):
            add_chunk(conn, doomed, model=STATIC_MODEL, index=index, vector=vector_literal(64, index))
        add_chunk(conn, kept, model=STATIC_MODEL, index=10, vector=vector_literal(64, 0))

    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM projects WHERE id = :id"), {"id": doomed})

    with engine.connect() as conn:
        remaining = conn.execute(sa.text("SELECT project_id, count(*) FROM chunks GROUP BY project_id")).all()
    assert remaining == [(kept, 1)]
