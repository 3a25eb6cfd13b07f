"""Hybrid search over the chunks table: pgvector kNN and full text, fused with reciprocal rank fusion in one
SQL statement, always restricted to the projects the caller may see.

Full text (retrieval/lexical.py): BM25 over the accent-folded text where the database has pg_textsearch;
elsewhere the question's lexemes under the Spanish and English configurations are OR-ed (an AND of every
word matches almost nothing for natural questions) and ranked with length-normalised ts_rank over each
chunk's tsvector (built with its own language's configuration, from the folded text).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

import numpy as np
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core import keys
from core.models import SourceType
from core.providers.embeddings import STATIC_MODEL, Embedder
from core.reads import session_rows
from core.settings import RetrievalSettings
from core.text import with_equivalents
from core.tracing import traced
from core.vectors import embedding_cast
from retrieval.highlight import QueryTerms, snippet
from retrieval.lexical import (
    PROJECTS_IN_SCOPE,
    SCOPE_WAYS,
    SPOKEN,
    Bm25Strategy,
    CorpusChanges,
    Lexical,
    Statistics,
    bm25_scope_sql,
    bm25_side_sql,
    bm25_strategy,
    corpus_statistics,
    fold_accents,
    session_lexical,
    statistics_params,
    ts_rank_side_sql,
)

Mode = Literal["hybrid", "vector", "text"]
Fusion = Literal["rrf", "convex", "dbsf"]
MAX_QUERY_CHARS = 2000
# Cosine similarity below which a chunk says nothing about the question, per model (e5 similarities
# crowd into 0.7–0.9; the static model's spread wider). Measured on the eval sets; see docs/evals.md.
DEFAULT_MIN_SIMILARITY = {STATIC_MODEL: 0.35, "e5/multilingual-e5-small": 0.80}
FALLBACK_MIN_SIMILARITY = 0.3
# The vector side's weight for transcript units, per model (convex and dbsf fusion; other chunks keep
# vector_weight). People say the same thing in other words: "que la gente pueda elegir los tres quesos de la
# caja" for "que el cliente escoja qué quesos van en el lote", where BM25 finds the turns that share the
# words. With e5, 0.7 left the two tuning sets' search as it was (reuniones, reuniones-b) and lifted the five
# written apart (key segments in the top 10 +0.03 to +0.20; docs/evals.md, "Session 13"). The static model's
# vectors are too coarse for it (meetings dev nDCG@10 0.53 -> 0.50): it keeps vector_weight.
DEFAULT_TRANSCRIPT_VECTOR_WEIGHT = {"e5/multilingual-e5-small": 0.7}


@dataclass(frozen=True)
class SearchFilters:
    source_types: tuple[SourceType, ...] = ()
    meeting_id: uuid.UUID | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None


@dataclass
class Hit:
    chunk_id: int
    project_id: uuid.UUID
    source_type: SourceType
    source_id: uuid.UUID
    chunk_index: int
    content: str
    meta: dict[str, Any]
    score: float
    similarity: float | None
    text_rank: float | None
    snippet: str = ""
    token_count: int | None = None  # of `content`, as stored by the indexer
    highlights: list[str] = field(default_factory=list)
    language: str = "simple"  # chunks.language: how the snippet compares its words with the query's
    # What an answerer reads instead of `content` (a transcript unit with its neighbours), and that
    # window's segments with their text (retrieval/windows.py).
    context: str | None = None
    window: list[dict[str, Any]] = field(default_factory=list)

    @property
    def title(self) -> str:
        return str(self.meta.get("title") or "")

    @property
    def meeting_id(self) -> str | None:
        if self.source_type == SourceType.MEETING:
            return str(self.source_id)
        value = self.meta.get("meeting_id")
        return str(value) if value else None


def clean_query(text: str) -> str:
    """One line of at most MAX_QUERY_CHARS, without control characters (Postgres rejects NUL in text)."""
    return " ".join(_CONTROL.sub(" ", text).split())[:MAX_QUERY_CHARS]


def min_similarity(model: str, config: RetrievalSettings) -> float:
    if config.min_similarity is not None:
        return config.min_similarity
    return DEFAULT_MIN_SIMILARITY.get(model, FALLBACK_MIN_SIMILARITY)


def transcript_vector_weight(model: str, config: RetrievalSettings) -> float:
    """The vector side's weight for transcript units on results pages: the configured one, else the
    model's (DEFAULT_TRANSCRIPT_VECTOR_WEIGHT), else vector_weight."""
    if config.transcript_vector_weight is not None:
        return config.transcript_vector_weight
    return DEFAULT_TRANSCRIPT_VECTOR_WEIGHT.get(model, config.vector_weight)


async def query_vector(redis: Redis | None, embedder: Embedder, text: str, *, ttl: int) -> list[float]:
    """The query's embedding, cached in Redis (a repeated question skips the model)."""
    key = keys.query_embedding(embedder.name, hashlib.sha256(text.encode()).hexdigest())
    if redis is not None and ttl:
        try:
            cached = await redis.get(key)
        except Exception:  # a cache, not a dependency: fall through to the model
            cached = None
        if cached:
            vector: list[float] = np.frombuffer(cached, dtype=np.float32).tolist()
            return vector
    vector = await embedder.embed_query(text)
    if redis is not None and ttl:
        with contextlib.suppress(Exception):  # caching is best effort
            await redis.set(key, np.asarray(vector, dtype=np.float32).tobytes(), ex=ttl)
    return vector


def _filter_sql(filters: SearchFilters, params: dict[str, Any]) -> str:
    clauses = []
    if filters.source_types:
        params["source_types"] = [t.value for t in filters.source_types]
        clauses.append("c.source_type = ANY(:source_types)")
    if filters.meeting_id:
        params["meeting_id"] = str(filters.meeting_id)
        clauses.append(
            "(c.metadata->>'meeting_id' = :meeting_id OR (c.source_type = 'meeting' AND c.source_id = "
            "CAST(:meeting_id AS uuid)))"
        )
    if filters.date_from:
        params["date_from"] = filters.date_from
        clauses.append("COALESCE((c.metadata->>'date')::timestamptz, c.created_at) >= :date_from")
    if filters.date_to:
        params["date_to"] = filters.date_to
        clauses.append("COALESCE((c.metadata->>'date')::timestamptz, c.created_at) < :date_to")
    return "".join(f" AND {clause}" for clause in clauses)


def diverse_pool(*, limit: int, offset: int) -> int:
    """How many ranked hits a diversified page is picked from (retriever.search_diverse)."""
    return (offset + limit) * 3


_MODEL_NAME = re.compile(r"^[A-Za-z0-9_./@:-]{1,128}$")
# The portable ranking (ts_rank) has no IDF: a query lexeme found in more than MAX_LEXEME_DF of all chunks
# (pg_stats of chunks.tsv, i.e. as of the last ANALYZE) neither matches nor ranks, which is both better
# ranking and a much cheaper GIN scan (bench/retrieval.py, bench/search.py). Not below MIN_ROWS_FOR_DF
# chunks, where every word is "common"; and when the rare lexemes match nothing in scope, all are used.
MAX_LEXEME_DF = 0.1
MIN_ROWS_FOR_DF = 1000
# Reciprocal rank fusion of the two ranks, or a convex combination of the two scores, each min-max
# normalised over its side's candidates (a side's only candidate counts as its best). Equal scores go to
# the chunk both sides found: with two vector candidates, the farther one normalises to 0, so a chunk only
# the vector side found ties exactly with one full text ranks first (a tiny project's usual case). The
# weight is the chunk's: each side says whether it is a transcript unit (`spoken`).
WEIGHT = "CASE WHEN COALESCE(sem.spoken, kw.spoken) THEN :transcript_vector_weight ELSE :vector_weight END"
FUSION = {
    "rrf": "COALESCE(1.0 / (:rrf_k + sem.r), 0) + COALESCE(1.0 / (:rrf_k + kw.r), 0)",
    "convex": (
        "CASE WHEN sem.id IS NULL THEN 0 "
        f"ELSE ({WEIGHT}) * COALESCE((sem.hi - sem.d) / NULLIF(sem.hi - sem.lo, 0), 1) END + "
        "CASE WHEN kw.id IS NULL THEN 0 "
        f"ELSE (1 - ({WEIGHT})) * COALESCE((kw.rank - kw.lo) / NULLIF(kw.hi - kw.lo, 0), 1) END"
    ),
    # The same weights over scores normalised by their side's spread (mean ± 3 standard deviations, as
    # Qdrant's distribution-based score fusion): one far candidate does not squeeze the others together.
    "dbsf": (
        "CASE WHEN sem.id IS NULL THEN 0 "
        f"ELSE ({WEIGHT}) * COALESCE((sem.mu + 3 * sem.sd - sem.d) / NULLIF(6 * sem.sd, 0), 1) END + "
        "CASE WHEN kw.id IS NULL THEN 0 "
        f"ELSE (1 - ({WEIGHT})) * COALESCE((kw.rank - kw.mu + 3 * kw.sd) / NULLIF(6 * kw.sd, 0), 1) END"
    ),
}
# The query's lexemes under both languages, from the accent-folded query (what the stored tsvector holds).
LEXEMES = """
    lex AS (
        SELECT DISTINCT lexeme FROM unnest(tsvector_to_array(to_tsvector('spanish', :q_folded)) ||
                                           tsvector_to_array(to_tsvector('english', :q_folded))) AS lexeme
    )"""
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def build_search_sql(
    *,
    model: str,
    dimensions: int,
    mode: Mode,
    filter_sql: str,
    lexical: Lexical = "ts_rank",
    bm25: Bm25Strategy = "index",
    text_depth: int = 100,
    fusion: Fusion = "rrf",
    cached_statistics: bool = False,
    diverse: bool = False,
) -> str:
    """One statement: the vector side, the text side, then their fusion (snippets: retrieval/highlight.py).

    The model name and dimension are inlined (validated) so the planner can match the model's partial
    HNSW index; every user value is a bound parameter. `bm25` picks how BM25 runs (lexical.bm25_strategy)."""
    if not _MODEL_NAME.match(model):
        raise ValueError(f"invalid model name {model!r}")
    vec = embedding_cast(dimensions)
    projects = f"embedding_model = '{model}' AND project_id = ANY(:project_ids)"
    scope = f"c.embedding_model = '{model}' AND {PROJECTS_IN_SCOPE}{filter_sql}"
    # Each side: its rank r (RRF) and the spread of its scores over its candidates (convex fusion).
    distance = f"{vec} <=> CAST(:qvec AS vector({dimensions}))"
    distances = f"SELECT c.id, {distance} AS d, {SPOKEN} FROM chunks c WHERE {scope}"
    if bm25 in SCOPE_WAYS:
        # A small scope's nearest chunks, exactly: every distance, then the best. Without the fence a
        # prepared statement's generic plan (psycopg prepares after five runs) takes the HNSW index, which
        # under a project filter is approximate and walks much of the graph to find a few rows.
        distances = f"SELECT id, d, spoken FROM ({distances} OFFSET 0) exact"
    vector_side = f"""
        SELECT id, d, spoken, row_number() OVER (ORDER BY d) AS r, min(d) OVER () AS lo, max(d) OVER () AS hi,
               avg(d) OVER () AS mu, stddev_pop(d) OVER () AS sd FROM (
            {distances}
            ORDER BY d LIMIT :candidates) v"""
    no_rows = (
        "NULL::boolean AS spoken, NULL::bigint AS r, "
        "NULL::float8 AS lo, NULL::float8 AS hi, NULL::float8 AS mu, NULL::float8 AS sd WHERE false"
    )
    empty_vector = f"SELECT NULL::bigint AS id, NULL::float8 AS d, {no_rows}"
    empty_text = f"SELECT NULL::bigint AS id, NULL::float8 AS rank, {no_rows}"
    ranked = (
        "SELECT id, rank, spoken, row_number() OVER (ORDER BY rank DESC, id) AS r, min(rank) OVER () AS lo, "
        "max(rank) OVER () AS hi, avg(rank) OVER () AS mu, stddev_pop(rank) OVER () AS sd FROM ({side}) t"
    )
    ctes = ""  # what the text side needs before `sem`, each ending in a comma
    if mode == "vector":
        keyword, text_from = "", f"({empty_text}) kw"
    elif lexical == "bm25" and bm25 in SCOPE_WAYS:
        scope_ctes, scope_side = bm25_scope_sql(
            scope=scope, depth=text_depth, few=bm25 == "rows", cached=cached_statistics
        )
        ctes = f"{scope_ctes},"
        keyword, text_from = "", f"({ranked.format(side=scope_side)}) kw"
    elif lexical == "bm25":
        # A derived table, not a CTE: pg_textsearch swaps the per-row score for the index scan's own only
        # in the main plan tree (a CTE would become a subplan it does not visit, and score every row).
        keyword, text_from = (
            "",
            f"({ranked.format(side=bm25_side_sql(scope=scope, projects=projects, depth=text_depth))}) kw",
        )
    else:
        ctes = f"""{LEXEMES},
    common AS (
        SELECT e.lexeme FROM pg_stats s CROSS JOIN LATERAL
            unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS e(lexeme, freq)
        WHERE s.schemaname = current_schema() AND s.tablename = 'chunks' AND s.attname = 'tsv'
          AND e.lexeme IS NOT NULL AND e.freq > :max_df
          AND (SELECT reltuples FROM pg_class WHERE oid = 'chunks'::regclass) >= :min_df_rows
    ),
    tq AS (
        SELECT (SELECT string_agg(quote_literal(lexeme), ' | ') FROM lex)::tsquery AS every_lexeme,
               (SELECT string_agg(quote_literal(lexeme), ' | ') FROM lex
                WHERE NOT EXISTS (SELECT 1 FROM common WHERE common.lexeme = lex.lexeme))::tsquery AS query
    ),"""
        # The rare lexemes first; all of them only when those match nothing in scope (a one-time filter:
        # the second scan runs in that case alone).
        rare, every = (
            ranked.format(side=ts_rank_side_sql(scope=scope, query=q)) for q in ("query", "every_lexeme")
        )
        keyword, text_from = (
            f""",
    kw_rare AS ({rare}),
    kw AS (
        SELECT * FROM kw_rare
        UNION ALL
        SELECT * FROM ({every}) all_lexemes
        WHERE NOT EXISTS (SELECT 1 FROM kw_rare)
    )""",
            "kw",
        )
    fused = f"""
        SELECT COALESCE(sem.id, kw.id) AS id, {FUSION[fusion]} AS score,
               1 - sem.d AS similarity, kw.rank AS text_rank,
               (sem.id IS NOT NULL)::int + (kw.id IS NOT NULL)::int AS sides
        FROM sem FULL OUTER JOIN {text_from} ON sem.id = kw.id
        ORDER BY score DESC, sides DESC, id"""
    columns = (
        "c.id, c.project_id, c.source_type, c.source_id, c.chunk_index, c.content, c.metadata, "
        "c.token_count, c.language, f.score, f.similarity, f.text_rank"
    )
    if diverse:
        # The page of a pool three pages deep (:pool) in which one non-transcript source takes at most
        # :per_source places, its further chunks after everything else (retriever.diversify, in SQL: only
        # the page leaves the database).
        ranked = f"""
    FROM (
        SELECT pool.*, pool.source_type <> 'transcript' AND row_number() OVER (
                   PARTITION BY pool.source_type, pool.source_id
                   ORDER BY pool.score DESC, pool.sides DESC, pool.id
               ) > :per_source AS held
        FROM (
            SELECT fused.*, s.source_type, s.source_id
            FROM ({fused} LIMIT :pool) fused JOIN chunks s ON s.id = fused.id
        ) pool
    ) f JOIN chunks c ON c.id = f.id
    ORDER BY f.held, f.score DESC, f.sides DESC, c.id
    LIMIT :limit OFFSET :offset"""
    else:
        ranked = f"""
    FROM ({fused} LIMIT :limit OFFSET :offset) f JOIN chunks c ON c.id = f.id
    ORDER BY f.score DESC, f.sides DESC, c.id"""
    return f"""
    WITH {ctes}
    sem AS ({vector_side if mode != "text" else empty_vector}){keyword}
    SELECT {columns}{ranked}"""


def search_statement(
    *,
    project_ids: list[uuid.UUID],
    query: str,
    query_embedding: list[float] | None,
    model: str,
    dimensions: int,
    config: RetrievalSettings,
    lexical: Lexical,
    limit: int,
    offset: int,
    mode: Mode,
    filters: SearchFilters,
    bm25: Bm25Strategy = "index",
    statistics: Statistics | None = None,
    per_source: int | None = None,
    results_page: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The search statement and its parameters (search_chunks runs it; bench/search.py explains it).
    `statistics`: the BM25 corpus statistics the scope ways use (lexical.corpus_statistics); None: the
    statement reads them from the indexes. `per_source`: the page is diversified (search_chunks).
    `results_page`: see search_chunks."""
    # Ranked this deep: the page, or with diversification the pool it is picked from.
    depth = diverse_pool(limit=limit, offset=offset) if per_source is not None else limit + offset
    params: dict[str, Any] = {
        "project_ids": list(project_ids),
        "q": query,
        "q_folded": fold_accents(with_equivalents(query)),  # "hosting" finds "Alojamiento" too
        "qvec": str(list(query_embedding)) if query_embedding is not None else None,
        "candidates": max(config.candidates, depth),
        # Fusion pages through the vector side's candidates too; text alone must fill the page itself.
        "text_candidates": max(config.text_candidates, depth) if mode == "text" else config.text_candidates,
        "rrf_k": config.rrf_k,
        "vector_weight": config.vector_weight,
        "transcript_vector_weight": (
            transcript_vector_weight(model, config) if results_page else config.vector_weight
        ),
        "max_df": MAX_LEXEME_DF,
        "min_df_rows": MIN_ROWS_FOR_DF,
        "limit": limit,
        "offset": offset,
        **(statistics_params(statistics) if statistics is not None else {}),
        **({"pool": depth, "per_source": per_source} if per_source is not None else {}),
    }
    sql = build_search_sql(
        model=model,
        dimensions=dimensions,
        mode=mode,
        filter_sql=_filter_sql(filters, params),
        lexical=lexical,
        bm25=bm25,
        text_depth=params["text_candidates"],
        fusion=config.fusion,
        cached_statistics=statistics is not None,
        diverse=per_source is not None,
    )
    return sql, params


async def search_chunks(
    session: AsyncSession,
    *,
    project_ids: list[uuid.UUID],
    query: str,
    query_embedding: list[float] | None,
    model: str,
    dimensions: int,
    config: RetrievalSettings,
    limit: int = 10,
    offset: int = 0,
    mode: Mode = "hybrid",
    filters: SearchFilters | None = None,
    snippets: bool = True,
    bm25: Bm25Strategy | None = None,
    per_source: int | None = None,
    corpus: CorpusChanges | None = None,
    results_page: bool = False,
) -> list[Hit]:
    """Ranked chunks of `project_ids` only. `project_ids` is required: there is no unscoped search.
    `bm25`: how BM25 runs over these projects, if the caller knows (retriever.SearchScope); else asked.
    `per_source`: a results page in which one non-transcript source takes at most that many places
    (retriever.search_diverse). `corpus`: the chunks' change counter (retriever.SearchScope), which lets
    BM25's corpus statistics be kept between searches; without it they are read in the statement.
    `results_page`: a page people read (the search routes), where transcript units are weighed with
    transcript_vector_weight; an answer's retrieval weighs every chunk with vector_weight, the retrieval
    its abstention model was fitted on (retrieval.relevance)."""
    if not project_ids:
        return []
    query = clean_query(query)
    if not query:
        return []
    if mode != "text" and query_embedding is None:
        raise ValueError("vector and hybrid search need the query embedding")
    lexical = await session_lexical(session, config.lexical)
    if lexical != "bm25":
        bm25 = "index"
    elif bm25 is None:  # also for the vector side alone: a small scope's neighbours are exact
        bm25 = await bm25_strategy(session, project_ids=project_ids, model=model)
    statistics = None
    if bm25 in SCOPE_WAYS and mode != "vector" and config.bm25_statistics_ttl > 0 and corpus is not None:
        statistics = await corpus_statistics(session, ttl=config.bm25_statistics_ttl, corpus=corpus)
    sql, params = search_statement(
        project_ids=project_ids, query=query, query_embedding=query_embedding, model=model,
        dimensions=dimensions, config=config, lexical=lexical, limit=limit, offset=offset, mode=mode,
        filters=filters or SearchFilters(), bm25=bm25, statistics=statistics, per_source=per_source,
        results_page=results_page,
    )  # fmt: skip
    attributes: dict[str, str | int] = {
        "v1tr0.search.mode": mode,
        "v1tr0.search.lexical": lexical,
        "v1tr0.search.model": model,
        "v1tr0.search.projects": len(project_ids),
    }
    if lexical == "bm25":
        attributes["v1tr0.search.bm25"] = bm25
    with traced("retrieval.search", attributes=attributes) as span:
        rows = await session_rows(session, sql, params)
        span.set_attribute("v1tr0.search.rows", len(rows))
    hits = [
        Hit(
            chunk_id=row.id,
            project_id=row.project_id,
            source_type=SourceType(row.source_type),
            source_id=row.source_id,
            chunk_index=row.chunk_index,
            content=row.content,
            meta=row.metadata or {},
            score=float(row.score),
            similarity=float(row.similarity) if row.similarity is not None else None,
            text_rank=float(row.text_rank) if row.text_rank is not None else None,
            token_count=row.token_count,
            language=row.language,
        )
        for row in rows
    ]
    return with_snippets(hits, query) if snippets else hits


def with_snippets(hits: list[Hit], query: str) -> list[Hit]:
    """`hits` with their snippets: the part of each chunk where the query's words are, marked
    (retrieval/highlight.py). A results page asks for them on the hits it shows, not on the pool it
    picked them from (search_diverse reads three pages to fill one)."""
    if not hits:
        return hits
    terms = QueryTerms.of(clean_query(query))
    shown = []
    for hit in hits:
        text, found = snippet(hit.content, hit.language, terms)
        shown.append(replace(hit, snippet=text, highlights=found))
    return shown
