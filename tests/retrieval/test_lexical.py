"""The lexical side of search on both rankings: BM25 (pg_textsearch, which the embedded test server has)
and the portable ts_rank (what a PostgreSQL without pg_textsearch runs; forced here by the setting).
Accents fold both ways, nothing of another project ever shows, /health/ready and every search response
say which ranking is active, and migration 0012 skips the BM25 indexes where they cannot be built."""

from __future__ import annotations

import importlib.util
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import psycopg
import pytest
import sqlalchemy as sa

from api.app import create_app
from api.resources import Resources
from core.db import libpq_url, sqlalchemy_url
from core.migrate import MIGRATIONS_DIR, upgrade
from core.models import Chunk, Project, SourceType
from core.providers.embeddings import STATIC_MODEL
from core.settings import RetrievalSettings
from retrieval.lexical import BM25_INDEXES, LexicalUnavailable, active_lexical, bm25_ready, choose_lexical
from retrieval.search import build_search_sql, search_chunks
from tests.api.test_hardening import asgi_client
from tests.conftest import _with_database, make_settings
from tests.ingestion.helpers import drain
from tests.retrieval.helpers import add_document, create_project

RANKINGS = ("bm25", "ts_rank")
DIMENSIONS = 64


def config(settings: Any, ranking: str, **changes: Any) -> RetrievalSettings:
    retrieval: RetrievalSettings = settings.retrieval
    return retrieval.model_copy(update={"lexical": ranking, **changes})


async def project_with(resources: Resources, *texts: tuple[str, str]) -> uuid.UUID:
    """A project whose chunks are `texts` ((language, content) pairs), written straight to the table."""
    async with resources.sessionmaker() as session, session.begin():
        project = Project(title=f"lexical {uuid.uuid4().hex[:6]}")
        session.add(project)
        await session.flush()
        rows = [
            {
                "project_id": project.id,
                "source_type": SourceType.DOCUMENT,
                "source_id": uuid.uuid4(),
                "chunk_index": 0,
                "content": content,
                "content_hash": uuid.uuid4().hex,
                "token_count": len(content.split()),
                "language": language,
                "meta": {"title": content[:20]},
                "embedding": [0.1] * DIMENSIONS,
                "embedding_model": STATIC_MODEL,
            }
            for language, content in texts
        ]
        await session.execute(sa.insert(Chunk), rows)
        return project.id


async def text_search(
    resources: Resources,
    settings: Any,
    ranking: str,
    project_ids: list[uuid.UUID],
    query: str,
    *,
    limit: int = 20,
    **changes: Any,
) -> list[str]:
    async with resources.sessionmaker() as session:
        hits = await search_chunks(
            session,
            project_ids=project_ids,
            query=query,
            query_embedding=None,
            model=STATIC_MODEL,
            dimensions=DIMENSIONS,
            config=config(settings, ranking, **changes),
            limit=limit,
            mode="text",
            snippets=False,
        )
    return [hit.content for hit in hits]


async def test_the_test_server_runs_bm25_and_auto_picks_it(resources: Resources) -> None:
    async with resources.engine.connect() as conn:
        assert await bm25_ready(conn)
    assert await active_lexical(resources.engine, "auto") == "bm25"
    assert await active_lexical(resources.engine, "ts_rank") == "ts_rank"


async def test_bm25_ranks_a_rare_word_above_a_repeated_common_one(
    resources: Resources, settings: Any
) -> None:
    """ "proyecto" is in nearly every chunk, "Frankfurt" in one: BM25 weighs the rare word (IDF); ts_rank,
    which has no IDF, lets the short chunk that repeats the common word win."""
    common = "Proyecto: el proyecto, proyecto y proyecto."
    rare = "Los servidores estarán en Frankfurt según el plan acordado con el equipo técnico del cliente."
    filler = [("es", f"Notas del proyecto, semana {n}: tareas y avances del equipo.") for n in range(8)]
    project_id = await project_with(resources, ("es", common), ("es", rare), *filler)

    bm25 = await text_search(resources, settings, "bm25", [project_id], "proyecto Frankfurt")
    ts_rank = await text_search(resources, settings, "ts_rank", [project_id], "proyecto Frankfurt")

    assert bm25[0] == rare
    assert ts_rank[0] == common  # the portable ranking, for contrast: what BM25 fixes


@pytest.mark.parametrize("ranking", RANKINGS)
@pytest.mark.parametrize(
    ("language", "stored", "typed"),
    [
        ("es", "Revisar el PRESUPUÉSTO con el cliente.", "presupuesto"),
        ("es", "Revisar el presupuesto con el cliente.", "PRESUPUÉSTO"),
        ("es", "Acta de la reunión del lunes.", "reunion"),
        ("es", "Acta de la reunion del lunes.", "reunión"),
        ("es", "Falta la información del proveedor.", "informacion"),  # stems differently unfolded
        ("es", "Falta la informacion del proveedor.", "información"),
        ("en", "We met at the café near the office.", "cafe"),
        ("simple", "Ñandú", "nandu"),
    ],
)
async def test_accents_fold_both_ways(
    resources: Resources, settings: Any, ranking: str, language: str, stored: str, typed: str
) -> None:
    project_id = await project_with(resources, (language, stored), (language, "Otro texto sin relación."))

    assert await text_search(resources, settings, ranking, [project_id], typed) == [stored]


@pytest.mark.parametrize("ranking", RANKINGS)
async def test_nothing_of_another_project_even_when_it_matches_better(
    resources: Resources, settings: Any, ranking: str
) -> None:
    """Project B's 120 chunks outrank project A's one on "quetzal" and fill the first candidates: the BM25
    scan must look past them for A's chunk, and never hand out B's."""
    mine = "Informe largo de la visita al parque, con notas del clima y, al final, un quetzal en un árbol."
    ours = await project_with(resources, ("es", mine), ("es", "Nada que ver con aves."))
    theirs = await project_with(resources, *[("es", f"quetzal quetzal quetzal {n}") for n in range(120)])

    assert await text_search(resources, settings, ranking, [ours], "quetzal", candidates=10) == [mine]
    found = await text_search(resources, settings, ranking, [theirs], "quetzal", candidates=10)
    assert len(found) == 20 and mine not in found  # 20: the page (limit) raises the candidates
    both = await text_search(resources, settings, ranking, [ours, theirs], "quetzal", limit=150)
    assert len(both) == 121 and both[-1] == mine


@pytest.mark.parametrize("ranking", RANKINGS)
async def test_languages_merge_and_a_missing_language_is_skipped(
    resources: Resources, settings: Any, ranking: str
) -> None:
    """A project in two languages: one query finds both; a project without English chunks still answers
    an English word (its BM25 scan of the English index is skipped, not run against other projects)."""
    spanish, english = "La factura de Acme vence el viernes.", "The Acme invoice is due on Friday."
    both = await project_with(resources, ("es", spanish), ("en", english))
    only_spanish = await project_with(resources, ("es", "Acme paga en euros."))
    await project_with(resources, *[("en", f"Acme invoice number {n}") for n in range(30)])

    assert set(await text_search(resources, settings, ranking, [both], "Acme")) == {spanish, english}
    assert await text_search(resources, settings, ranking, [only_spanish], "Acme invoice") == [
        "Acme paga en euros."
    ]


async def test_bm25_scores_come_from_the_index_scan_not_per_row(resources: Resources) -> None:
    """The statement must let pg_textsearch replace the per-row score (which re-tokenises each chunk) with
    its index scan's own: it does so only in the main plan tree, so the BM25 side must not sit in a CTE."""
    sql = build_search_sql(
        model=STATIC_MODEL, dimensions=DIMENSIONS, mode="hybrid", filter_sql="", lexical="bm25"
    )
    params = {
        "project_ids": [uuid.uuid4()], "q": "presupuesto", "q_folded": "presupuesto", "qvec": str([0.1] * 64),
        "candidates": 100, "rrf_k": 20, "limit": 10, "offset": 0, "snippets": True,
    }  # fmt: skip
    async with resources.engine.connect() as conn:
        plan = "\n".join(
            (await conn.execute(sa.text(f"EXPLAIN (VERBOSE, COSTS OFF) {sql}"), params)).scalars()
        )

    for index in BM25_INDEXES.values():
        assert f"Index Scan using {index}" in plan
    outputs = [line for line in plan.splitlines() if line.strip().startswith("Output:")]
    assert any("bm25_get_current_score()" in line for line in outputs)
    assert not [line for line in outputs if "<@>" in line]


async def test_health_and_search_responses_say_which_ranking_runs(
    client: httpx.AsyncClient, factory: Any, settings: Any, resources: Resources, servers: Any
) -> None:
    owner = await factory.user()
    project_id = await create_project(client, owner.headers, "Ranking")
    await add_document(client, owner.headers, project_id, "Acta", "Acta de la reunión del lunes con Acme.")
    await drain(settings, resources)

    r = await client.get("/health/ready")
    assert r.json()["checks"]["search"] == {"status": "up", "lexical": "bm25"}
    r = await client.get(f"/api/v1/ai/search/{project_id}", params={"q": "reunion"}, headers=owner.headers)
    assert r.json()["lexical"] == "bm25" and r.json()["results"]
    r = await client.get(
        f"/api/v1/ai/search/{project_id}", params={"q": "reunion", "mode": "vector"}, headers=owner.headers
    )
    assert r.json()["lexical"] is None

    forced = make_settings(servers, retrieval={"lexical": "ts_rank", "ai_rate_limit": 1000})
    other = Resources.open(forced)
    try:
        async with asgi_client(create_app(forced, resources=other)) as http:
            assert (await http.get("/health/ready")).json()["checks"]["search"]["lexical"] == "ts_rank"
            r = await http.get(
                f"/api/v1/ai/search/{project_id}", params={"q": "reunion"}, headers=owner.headers
            )
            assert r.json()["lexical"] == "ts_rank" and r.json()["results"]
    finally:
        await other.close()


# --- migration 0012 ----------------------------------------------------------------------------------


def migration() -> ModuleType:
    path = next(Path(MIGRATIONS_DIR, "versions").glob("0012_*.py"))
    spec = importlib.util.spec_from_file_location("migration_0012", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bm25_indexes(conn: sa.Connection) -> set[str]:
    rows = conn.execute(sa.text("SELECT indexname FROM pg_indexes WHERE indexdef LIKE '%USING bm25%'"))
    return set(rows.scalars())


@pytest.fixture
def database_without_bm25(servers: Any) -> Iterator[str]:
    """A database of its own, migrated to head, whose BM25 indexes are gone: the schema migration 0012
    leaves on a PostgreSQL without pg_textsearch. (Not the shared test database: pg_textsearch 1.0 keeps
    per-connection index state that a DROP INDEX from elsewhere would leave dangling.)"""
    name = f"v1tr0_no_bm25_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(libpq_url(servers.admin_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = _with_database(servers.admin_url, name)
    try:
        upgrade(url)
        engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.NullPool)
        with engine.begin() as conn:
            for index in BM25_INDEXES.values():
                conn.execute(sa.text(f"DROP INDEX {index}"))
        engine.dispose()
        yield url
    finally:
        with psycopg.connect(libpq_url(servers.admin_url), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_migration_builds_the_bm25_indexes_only_where_it_can(
    database_without_bm25: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = migration()
    engine = sa.create_engine(sqlalchemy_url(database_without_bm25), poolclass=sa.NullPool)
    try:
        with engine.connect() as conn:
            assert module.bm25_available(conn)  # the embedded server preloads pg_textsearch
            with monkeypatch.context() as patched:
                patched.setattr(module, "bm25_available", lambda bind: False)
                assert module.create_bm25_indexes(conn) is False
            assert bm25_indexes(conn) == set()
            assert module.create_bm25_indexes(conn) is True
            assert bm25_indexes(conn) == set(BM25_INDEXES.values())
            # A failure inside (here: the indexes exist; elsewhere: a role that may not create the
            # extension) rolls back to a savepoint, and the migration's own transaction goes on.
            assert module.create_bm25_indexes(conn) is False
            assert conn.scalar(sa.text("SELECT count(*) FROM chunks")) == 0
            conn.commit()
            assert bm25_indexes(conn) == set(BM25_INDEXES.values())
    finally:
        engine.dispose()


async def test_a_database_without_bm25_indexes_searches_with_ts_rank(
    servers: Any, database_without_bm25: str
) -> None:
    settings = make_settings(servers, database_url=database_without_bm25)
    other = Resources.open(settings)
    try:
        async with other.engine.connect() as conn:
            assert not await bm25_ready(conn)
        assert await active_lexical(other.engine, "auto") == "ts_rank"
        project_id = await project_with(other, ("es", "Acta de la reunión del lunes."), ("es", "Otra cosa."))
        assert await text_search(other, settings, "auto", [project_id], "reunion") == [
            "Acta de la reunión del lunes."
        ]
        async with asgi_client(create_app(settings, resources=other)) as http:
            assert (await http.get("/health/ready")).json()["checks"]["search"]["lexical"] == "ts_rank"
        with pytest.raises(LexicalUnavailable):
            await choose_lexical(other.engine, "bm25")
    finally:
        await other.close()
