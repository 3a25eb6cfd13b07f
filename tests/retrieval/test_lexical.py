"""The lexical side of search on both rankings: BM25 (pg_textsearch, which the embedded test server has)
and the portable ts_rank (what a PostgreSQL without pg_textsearch runs; forced here by the setting).
BM25 runs two ways, by the size of the scope: the BM25 index scan (large scopes) and BM25 computed over
the scope's own chunks (small scopes; the test database is small, so that is what search picks here
unless a test lowers the thresholds); both give the same scores. Accents fold both ways, nothing of
another project ever shows, /health/ready and every search response say which ranking is active, and
migration 0012 skips the BM25 indexes where they cannot be built."""

from __future__ import annotations

import importlib.util
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
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
from retrieval import lexical
from retrieval.lexical import (
    BM25_INDEXES,
    SCOPE_INDEX,
    SCOPED_TSV,
    LexicalUnavailable,
    active_lexical,
    bm25_ready,
    bm25_strategy,
    choose_lexical,
)
from retrieval.search import SearchFilters, build_search_sql, search_chunks
from tests.api.test_hardening import asgi_client
from tests.api.test_round_trips import statements
from tests.conftest import _with_database, make_settings
from tests.ingestion.helpers import drain
from tests.retrieval.helpers import add_document, create_project

RANKINGS = ("bm25", "ts_rank")
# BM25 the three ways (the index scan, forced by thresholds of 0; the scope's own chunks found through the
# scope index, or read row by row, what a small test project gets), and the portable ranking.
BM25_WAYS = ("bm25 index", "bm25 scope", "bm25 rows")
WAYS = (*BM25_WAYS, "ts_rank")
DIMENSIONS = 64


@pytest.fixture
def force_index_scan(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every scope is "large": BM25 runs as the index scan."""
    monkeypatch.setattr(lexical, "SCOPED_MIN_ROWS", 0)
    monkeypatch.setattr(lexical, "SCOPED_MAX_FRACTION", 0.0)


@pytest.fixture
def force_scope_scoring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every scope is "small" but none "few": BM25 scores the scope's own chunks, found through the scope
    index, whatever the table holds."""
    monkeypatch.setattr(lexical, "SCOPED_MIN_ROWS", 10**9)
    monkeypatch.setattr(lexical, "SCOPED_FEW_ROWS", 0)


@pytest.fixture
def force_rows_scoring(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every scope is "few": BM25 scores the scope's own chunks, read through the project index."""
    monkeypatch.setattr(lexical, "SCOPED_MIN_ROWS", 10**9)
    monkeypatch.setattr(lexical, "SCOPED_FEW_ROWS", 10**9)


def ranking_of(way: str, request: pytest.FixtureRequest) -> str:
    """The ranking setting for `way`, with the thresholds that make BM25 run that way."""
    if way == "bm25 index":
        request.getfixturevalue("force_index_scan")
    elif way == "bm25 scope":
        request.getfixturevalue("force_scope_scoring")
    elif way == "bm25 rows":
        request.getfixturevalue("force_rows_scoring")
    return way.split()[0]


def config(settings: Any, ranking: str, **changes: Any) -> RetrievalSettings:
    retrieval: RetrievalSettings = settings.retrieval
    return retrieval.model_copy(update={"lexical": ranking, **changes})


async def project_with(resources: Resources, *texts: tuple[str, str], **fields: Any) -> uuid.UUID:
    """A project whose chunks are `texts` ((language, content) pairs), written straight to the table;
    `fields` override the chunks' other columns (source_type, meta...)."""
    async with resources.sessionmaker() as session, session.begin():
        project = Project(title=f"lexical {uuid.uuid4().hex[:6]}")
        session.add(project)
        await session.flush()
        rows = [
            {
                "project_id": project.id,
                "source_type": SourceType.DOCUMENT,
                "source_id": uuid.uuid4(),
                "chunk_index": n,
                "content": content,
                "content_hash": uuid.uuid4().hex,
                "token_count": len(content.split()),
                "language": language,
                "meta": {"title": content[:20]},
                "embedding": [0.1] * DIMENSIONS,
                "embedding_model": STATIC_MODEL,
                **fields,
            }
            for n, (language, content) in enumerate(texts)
        ]
        await session.execute(sa.insert(Chunk), rows)
        return project.id


async def text_search(*args: Any, **kwargs: Any) -> list[str]:
    """The contents of text_hits' hits (same arguments)."""
    return [hit.content for hit in await text_hits(*args, **kwargs)]


async def text_hits(
    resources: Resources,
    settings: Any,
    ranking: str,
    project_ids: list[uuid.UUID],
    query: str,
    *,
    limit: int = 20,
    filters: SearchFilters | None = None,
    **changes: Any,
) -> list[Any]:
    async with resources.sessionmaker() as session:
        return await search_chunks(
            session,
            project_ids=project_ids,
            query=query,
            query_embedding=None,
            model=STATIC_MODEL,
            dimensions=DIMENSIONS,
            config=config(settings, ranking, **changes),
            limit=limit,
            mode="text",
            filters=filters,
            snippets=False,
        )


async def test_the_test_server_runs_bm25_and_auto_picks_it(resources: Resources) -> None:
    async with resources.engine.connect() as conn:
        assert await bm25_ready(conn)
    assert await active_lexical(resources.engine, "auto") == "bm25"
    assert await active_lexical(resources.engine, "ts_rank") == "ts_rank"


@pytest.mark.parametrize("way", BM25_WAYS)
async def test_bm25_ranks_a_rare_word_above_a_repeated_common_one(
    resources: Resources, settings: Any, request: pytest.FixtureRequest, way: str
) -> None:
    """ "proyecto" is in nearly every chunk, "Frankfurt" in one: BM25 weighs the rare word (IDF); ts_rank,
    which has no IDF, lets the short chunk that repeats the common word win."""
    common = "Proyecto: el proyecto, proyecto y proyecto."
    rare = "Los servidores estarán en Frankfurt según el plan acordado con el equipo técnico del cliente."
    filler = [("es", f"Notas del proyecto, semana {n}: tareas y avances del equipo.") for n in range(8)]
    project_id = await project_with(resources, ("es", common), ("es", rare), *filler)
    ranking_of(way, request)

    bm25 = await text_search(resources, settings, "bm25", [project_id], "proyecto Frankfurt")
    ts_rank = await text_search(resources, settings, "ts_rank", [project_id], "proyecto Frankfurt")

    assert bm25[0] == rare
    assert ts_rank[0] == common  # the portable ranking, for contrast: what BM25 fixes


@pytest.mark.parametrize("way", WAYS)
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
    resources: Resources,
    settings: Any,
    request: pytest.FixtureRequest,
    way: str,
    language: str,
    stored: str,
    typed: str,
) -> None:
    ranking = ranking_of(way, request)
    project_id = await project_with(resources, (language, stored), (language, "Otro texto sin relación."))

    assert await text_search(resources, settings, ranking, [project_id], typed) == [stored]


@pytest.mark.parametrize("way", WAYS)
async def test_nothing_of_another_project_even_when_it_matches_better(
    resources: Resources, settings: Any, request: pytest.FixtureRequest, way: str
) -> None:
    """Project B's 120 chunks outrank project A's one on "quetzal" and fill the first candidates: the BM25
    scan must look past them for A's chunk, and never hand out B's."""
    ranking = ranking_of(way, request)
    mine = "Informe largo de la visita al parque, con notas del clima y, al final, un quetzal en un árbol."
    ours = await project_with(resources, ("es", mine), ("es", "Nada que ver con aves."))
    theirs = await project_with(resources, *[("es", f"quetzal quetzal quetzal {n}") for n in range(120)])

    assert await text_search(resources, settings, ranking, [ours], "quetzal", candidates=10) == [mine]
    found = await text_search(resources, settings, ranking, [theirs], "quetzal", candidates=10)
    assert len(found) == 20 and mine not in found  # 20: the page (limit) raises the candidates
    both = await text_search(resources, settings, ranking, [ours, theirs], "quetzal", limit=150)
    assert len(both) == 121 and both[-1] == mine


@pytest.mark.parametrize("way", BM25_WAYS)
async def test_text_that_names_a_project_does_not_open_its_scope(
    resources: Resources, settings: Any, request: pytest.FixtureRequest, way: str
) -> None:
    """The scope index marks each chunk with a lexeme naming its project; a chunk elsewhere whose text names
    the project cannot pass for one of its chunks (no text produces that lexeme, and the scope is checked
    on the row anyway)."""
    ranking = ranking_of(way, request)
    mine = await project_with(resources, ("es", "Nota breve sin relación."))
    forged = f"project {mine} presupuesto presupuesto 'project {mine}' presupuesto"
    await project_with(resources, ("es", forged), ("simple", forged), ("en", forged))

    assert await text_search(resources, settings, ranking, [mine], "presupuesto") == []
    assert await text_search(resources, settings, ranking, [mine], f"project {mine}") == []


@pytest.mark.parametrize("way", WAYS)
async def test_languages_merge_and_a_missing_language_is_skipped(
    resources: Resources, settings: Any, request: pytest.FixtureRequest, way: str
) -> None:
    """A project in two languages: one query finds both; a project without English chunks still answers
    an English word (its BM25 scan of the English index is skipped, not run against other projects)."""
    ranking = ranking_of(way, request)
    spanish, english = "La factura de Acme vence el viernes.", "The Acme invoice is due on Friday."
    both = await project_with(resources, ("es", spanish), ("en", english))
    only_spanish = await project_with(resources, ("es", "Acme paga en euros."))
    await project_with(resources, *[("en", f"Acme invoice number {n}") for n in range(30)])

    assert set(await text_search(resources, settings, ranking, [both], "Acme")) == {spanish, english}
    assert await text_search(resources, settings, ranking, [only_spanish], "Acme invoice") == [
        "Acme paga en euros."
    ]


async def explain(resources: Resources, sql: str, project_ids: list[uuid.UUID], query: str) -> str:
    params = {
        "project_ids": project_ids, "q": query, "q_folded": query, "qvec": str([0.1] * 64),
        "candidates": 100, "text_candidates": 100, "rrf_k": 20, "vector_weight": 0.5, "max_df": 0.1,
        "transcript_vector_weight": 0.7,
        "min_df_rows": 1000, "limit": 10, "offset": 0,
    }  # fmt: skip
    async with resources.engine.connect() as conn:
        return "\n".join(
            (await conn.execute(sa.text(f"EXPLAIN (VERBOSE, COSTS OFF) {sql}"), params)).scalars()
        )


async def test_bm25_scores_come_from_the_index_scan_not_per_row(resources: Resources) -> None:
    """The statement must let pg_textsearch replace the per-row score (which re-tokenises each chunk) with
    its index scan's own: it does so only in the main plan tree, so the BM25 side must not sit in a CTE."""
    sql = build_search_sql(
        model=STATIC_MODEL, dimensions=DIMENSIONS, mode="hybrid", filter_sql="", lexical="bm25"
    )
    plan = await explain(resources, sql, [uuid.uuid4()], "presupuesto")

    for index in BM25_INDEXES.values():
        assert f"Index Scan using {index}" in plan
    outputs = [line for line in plan.splitlines() if line.strip().startswith("Output:")]
    assert any("bm25_get_current_score()" in line for line in outputs)
    assert not [line for line in outputs if "<@>" in line]


async def test_a_small_scope_is_scored_without_walking_the_bm25_indexes(resources: Resources) -> None:
    """The scope way reads each BM25 index only for its statistics (no BM25 index scan, no per-row <@>),
    and finds the scope's matching chunks with an expression the scope index (GIN, migration 0013) serves."""
    sql = build_search_sql(
        model=STATIC_MODEL, dimensions=DIMENSIONS, mode="hybrid", filter_sql="", lexical="bm25", bm25="scope"
    )
    plan = await explain(resources, sql, [uuid.uuid4()], "presupuesto")

    assert "Index Scan using ix_chunks_bm25_" not in plan
    assert "<@>" not in plan and "bm25_get_current_score" not in plan
    lookup_sql = f"EXPLAIN SELECT c.id FROM chunks c WHERE {SCOPED_TSV} @@ 'presupuesto'::tsquery"  # noqa: S608
    async with resources.engine.connect() as conn:
        await conn.execute(sa.text("SET enable_seqscan = off"))
        lookup = "\n".join((await conn.execute(sa.text(lookup_sql))).scalars())
    assert f"Bitmap Index Scan on {SCOPE_INDEX}" in lookup


async def test_the_size_of_the_scope_picks_the_way(
    resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    small = await project_with(resources, *[("es", f"Nota {n} del equipo.") for n in range(5)])
    large = await project_with(resources, *[("es", f"Acta {n} de la reunión.") for n in range(30)])

    async def way(*projects: uuid.UUID) -> str:
        async with resources.sessionmaker() as session:
            return await bm25_strategy(session, project_ids=list(projects), model=STATIC_MODEL)

    # As configured, a scope of at most SCOPED_FEW_ROWS chunks is read row by row, whatever the table holds.
    assert await way(small) == await way(large) == await way(small, large) == "rows"
    monkeypatch.setattr(lexical, "SCOPED_FEW_ROWS", 10)
    assert await way(small) == "rows"
    assert await way(large) == await way(small, large) == "scope"  # at most SCOPED_MIN_ROWS
    monkeypatch.setattr(lexical, "SCOPED_MIN_ROWS", 20)
    monkeypatch.setattr(lexical, "SCOPED_MAX_FRACTION", 0.0)
    assert await way(small) == "rows"
    assert await way(large) == await way(small, large) == "index"
    # A share of the table (as of its last ANALYZE) counts too: 30 of 35 chunks is not small at 50%.
    async with resources.engine.connect() as conn:
        await conn.execute(sa.text("ANALYZE chunks"))
        await conn.commit()
    monkeypatch.setattr(lexical, "SCOPED_MIN_ROWS", 0)
    monkeypatch.setattr(lexical, "SCOPED_MAX_FRACTION", 0.5)
    monkeypatch.setattr(lexical, "SCOPED_FEW_ROWS", 0)
    assert await way(small) == "scope"
    assert await way(large) == "index"
    # Chunks of another model do not count: the scope is the model's chunks of the projects.
    async with resources.sessionmaker() as session:
        assert await bm25_strategy(session, project_ids=[large], model="e5/other") == "rows"


WORDS = [
    *("presupuesto", "cliente", "reunión", "contrato", "factura", "proveedor", "entrega", "plazo", "riesgo"),
    *("equipo", "informe", "servidor", "despliegue", "migración", "auditoría", "licencia", "soporte"),
    *("incidencia", "calidad", "prueba"),
]


def corpus(seed: int, n: int) -> list[tuple[str, str]]:
    """`n` Spanish chunks of 4-35 words from a small vocabulary: repeated words and uneven lengths, so
    scores spread. Below 40 words: the test's BM25 indexes keep their chunks in memory, with exact lengths,
    where an index written to disk (the bench's) stores lengths of 40 and more approximately, as the
    scope way computes them."""
    rng = random.Random(seed)
    return [("es", " ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 35)))) for _ in range(n)]


async def test_both_ways_give_the_same_ranking_and_scores(
    resources: Resources, settings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Project A's ranking by BM25 is the same computed over A's chunks as read from the BM25 index scan,
    scores included, while project B shares the corpus statistics; compounds count (the hyphenated
    word as a whole has an IDF of its own)."""
    mine = await project_with(
        resources, *corpus(1, 40), ("en", "The C-terminal domain of the protein."), ("en", "A terminal C.")
    )
    await project_with(resources, *corpus(2, 80), ("en", "Terminal C-terminal terminal."))
    queries = [
        "presupuesto del cliente", "riesgo de la migración y auditoría", "factura factura proveedor",
        "C-terminal protein", "soporte", "licencia calidad prueba entrega plazo",
    ]  # fmt: skip

    def ranked(hits: list[Any]) -> list[tuple[int, float]]:
        return [(hit.chunk_id, round(hit.text_rank, 4)) for hit in hits]

    for query in queries:
        scoped = ranked(await text_hits(resources, settings, "bm25", [mine], query, limit=50))
        monkeypatch.setattr(lexical, "SCOPED_MIN_ROWS", 0)
        monkeypatch.setattr(lexical, "SCOPED_MAX_FRACTION", 0.0)
        scanned = ranked(await text_hits(resources, settings, "bm25", [mine], query, limit=50))
        monkeypatch.undo()
        assert scoped, query
        assert scoped == scanned, query


@pytest.mark.parametrize("way", WAYS)
async def test_filters_hold_on_every_way(
    resources: Resources, settings: Any, request: pytest.FixtureRequest, way: str
) -> None:
    """Source type, meeting and dates narrow the full-text side on every way, within the scope."""
    ranking = ranking_of(way, request)
    meeting = uuid.uuid4()
    old = datetime(2025, 1, 10, tzinfo=UTC)
    project = await project_with(resources, ("es", "Presupuesto del documento."))
    await project_with(
        resources, ("es", "Presupuesto de la reunión."), ("es", "Presupuesto repetido de la reunión."),
        project_id=project, source_type=SourceType.MEETING, source_id=meeting,
    )  # fmt: skip
    await project_with(
        resources, ("es", "Presupuesto del año pasado."), project_id=project, meta={"date": old.isoformat()}
    )
    elsewhere = await project_with(
        resources, ("es", "Presupuesto presupuesto de otra reunión."), meta={"meeting_id": str(meeting)}
    )

    async def found(filters: SearchFilters) -> set[str]:
        return set(await text_search(resources, settings, ranking, [project], "presupuesto", filters=filters))

    assert len(await found(SearchFilters())) == 4
    meetings = {"Presupuesto de la reunión.", "Presupuesto repetido de la reunión."}
    assert await found(SearchFilters(source_types=(SourceType.MEETING,))) == meetings
    assert await found(SearchFilters(meeting_id=meeting)) == meetings
    assert await found(SearchFilters(date_to=old + timedelta(days=1))) == {"Presupuesto del año pasado."}
    assert "Presupuesto del año pasado." not in await found(SearchFilters(date_from=old + timedelta(days=1)))
    everywhere = await text_search(resources, settings, ranking, [project, elsewhere], "presupuesto")
    assert "Presupuesto presupuesto de otra reunión." in everywhere


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


@pytest.mark.parametrize("way", ["bm25 scope", "bm25 rows"])
async def test_the_scope_ways_keep_the_corpus_statistics_for_their_ttl(
    resources: Resources,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    way: str,
) -> None:
    """With bm25_statistics_ttl, a process reads the indexes' statistics again after the TTL or once the
    chunks have changed by more than 1 % of their rows, and passes them to the statement; over an unchanged
    corpus the scores are the ones read in the statement itself."""
    ranking = ranking_of(way, request)
    texts = [("es", f"Acta {n}: el presupuesto {'y el presupuesto ' * n}de la reunión.") for n in range(6)]
    project = await project_with(resources, *texts)
    exact = [
        (hit.content, hit.text_rank)
        for hit in await text_hits(resources, settings, ranking, [project], "presupuesto acta")
    ]
    monkeypatch.setattr(lexical, "_statistics", {})
    clock = [1000.0]
    monkeypatch.setattr(lexical.time, "monotonic", lambda: clock[0])

    async def search(changes: int, rows: int = 10_000) -> tuple[list[tuple[str, float]], int]:
        with statements() as seen:
            async with resources.sessionmaker() as session:
                hits = await search_chunks(
                    session, project_ids=[project], query="presupuesto acta", query_embedding=None,
                    model=STATIC_MODEL, dimensions=DIMENSIONS, mode="text", snippets=False,
                    config=config(settings, ranking, bm25_statistics_ttl=30.0),
                    corpus=lexical.CorpusChanges(changes, rows),
                )  # fmt: skip
        return [(hit.content, hit.text_rank) for hit in hits], sum(lexical.STATISTICS in sql for sql in seen)

    found, reads = await search(changes=500)
    assert reads == 1 and [c for c, _ in found] == [c for c, _ in exact]
    assert all(a == pytest.approx(b, rel=1e-9) for (_, a), (_, b) in zip(found, exact, strict=True))
    clock[0] += 29
    assert (await search(changes=600))[1] == 0  # kept: 100 changes of 10,000 rows
    assert (await search(changes=601))[1] == 1  # read again: the corpus moved by more than 1 %
    clock[0] += 31
    assert (await search(changes=601))[1] == 1  # read again: the TTL is over
    assert (await search(changes=601))[1] == 0
