"""The lexical (full-text) side of search: BM25 through pg_textsearch where the database has it, else the
portable ranking that runs on any PostgreSQL (length-normalised ts_rank over the stored tsvector).

Which one runs is decided once per process and database, the first time it is asked (the API asks at
start-up), and shown in /health/ready and in every search response. `V1TR0_RETRIEVAL__LEXICAL` forces
either one; `auto` (the default) picks BM25 when its indexes are there and usable.

BM25: every chunk's accent-folded text sits in the column of its language (core.models.SEARCH_COLUMNS), each
with its own BM25 index (migration 0012), whose statistics (document count, average length, each word's
document frequency) define the scores. Two ways to the same scores, chosen per query by the size of the
scope (bm25_strategy):

- "index", for large scopes (most of the corpus: a global search): a query runs against each BM25 index,
  scoped to the caller's projects inside the index scan, and the lists merge by score (BM25 scores of one
  query are comparable across the indexes). The scan scores every chunk of the corpus that holds a query
  word and filters afterwards (pg_textsearch rescans deeper until enough rows pass): for a project with 2%
  of the chunks, most of that work is for chunks out of scope.
- "scope", for small scopes: one GIN scan (migration 0013) finds the scope's chunks holding any query word,
  and BM25 is computed in SQL over their stored tsvector (the same words: same text, same configuration),
  with each word's IDF and the average length read from the BM25 index itself. The scores equal the index
  scan's (up to float rounding), so rankings do too; only the work done differs. (One nuance: the index
  scan takes exact lengths for chunks still in pg_textsearch's in-memory part and quantised ones once
  they are written to disk; the scope way always quantises, so a long chunk written since the last spill
  can score a little differently.)
- "rows", for scopes of at most SCOPED_FEW_ROWS chunks: the same scores, but the scope's chunks are read
  through the (project, model) index and tested against the query's words one by one. The GIN scan reads
  the whole posting list of every query word (a 47-word question over 13 projects took 6 ms, where
  testing their 350 chunks takes under 1).
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any, Literal, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from core.models import FOLD_FROM, FOLD_TO, SEARCH_COLUMNS, SourceType
from core.reads import session_rows

log = logging.getLogger(__name__)

Lexical = Literal["bm25", "ts_rank"]
LexicalSetting = Literal["auto", "bm25", "ts_rank"]
Bm25Strategy = Literal["index", "scope", "rows"]
SCOPE_WAYS = ("scope", "rows")  # the strategies that compute BM25 over the scope's own chunks

BM25_INDEXES = {column: "ix_chunks_bm25_" + column.removeprefix("search_") for column in SEARCH_COLUMNS}
# Migration 0013: the GIN index over each chunk's tsvector plus a lexeme naming its project (a space makes
# it one no text produces), so that the scope's chunks holding a query word are one index scan.
SCOPE_INDEX = "ix_chunks_bm25_scope"
SCOPED_TSV = "(c.tsv || array_to_tsvector(ARRAY['project ' || c.project_id::text]))"
# The scope is small when its chunks (of the model) are at most SCOPED_MAX_FRACTION of the table (as of the
# last ANALYZE), or SCOPED_MIN_ROWS. Where the two ways cross on 100,000 chunks (bench/search.py): at ~12%.
SCOPED_MAX_FRACTION = 0.1
SCOPED_MIN_ROWS = 2000
SCOPED_FEW_ROWS = 600
# Which language (pg_textsearch index and text configuration) each chunk's words are scored under.
LANGUAGES = {
    "es": ("spanish", "search_es"),
    "en": ("english", "search_en"),
    "simple": ("simple", "search_simple"),
}
LANGUAGE_OF = "CASE c.language WHEN 'es' THEN 'es' WHEN 'en' THEN 'en' ELSE 'simple' END"
# Migration 0012 makes pg_textsearch's per-row scoring function this expensive for the planner, so that a
# BM25 ORDER BY always runs as the index scan: only there does bm25_get_current_score() return the row's
# score (elsewhere it would return a stale one), and only there is it fast (per row, the function
# re-tokenises the chunk's text).
SCORE_FUNCTION_COST = 1_000_000
_FOLD = str.maketrans(FOLD_FROM, FOLD_TO)
# What bm25_scope_sql reads in bm25_summarize_index's text (pg_textsearch 1.0).
SUMMARY = re.compile(r"total_docs: \d+\s+total_len: \d+.*\sk1: [0-9.]+\s+b: [0-9.]+", re.DOTALL)

_decided: dict[str, Lexical] = {}


class LexicalUnavailable(RuntimeError):
    pass


def fold_accents(text: str) -> str:
    """The query folded as the BM25 columns are ("Reunión" -> "Reunion")."""
    return text.translate(_FOLD)


async def bm25_ready(conn: AsyncConnection) -> bool:
    """pg_textsearch's library is loaded, every BM25 index (and the scope index of migration 0013) exists and
    is valid, the scoring function carries the planner cost migration 0012 gives it (an extension update
    would reset it), and the indexes' summaries give the statistics the scope way reads."""
    names = [*BM25_INDEXES.values(), SCOPE_INDEX]
    row = (
        await conn.execute(
            sa.text(
                "SELECT current_setting('pg_textsearch.library_version', true) IS NOT NULL AS loaded, "
                "(SELECT count(*) FROM pg_index i WHERE i.indisvalid AND i.indexrelid IN "
                "   (SELECT to_regclass(name) FROM unnest(CAST(:names AS text[])) AS name)) AS indexes, "
                "(SELECT max(procost) FROM pg_proc WHERE proname = 'bm25_text_bm25query_score') AS cost"
            ),
            {"names": names},
        )
    ).one()
    if not (bool(row.loaded) and row.indexes == len(names) and (row.cost or 0) >= SCORE_FUNCTION_COST):
        return False
    # The scope way reads the corpus statistics from the index summary's text (bm25_scope_sql).
    summaries = await conn.execute(
        sa.text("SELECT bm25_summarize_index(name) FROM unnest(CAST(:names AS text[])) AS name"),
        {"names": list(BM25_INDEXES.values())},
    )
    return all(SUMMARY.search(summary) for summary in summaries.scalars())


async def active_lexical(engine: AsyncEngine, setting: LexicalSetting) -> Lexical:
    """The lexical ranking this process uses on `engine`'s database: decided on the first call, then kept.
    The first time BM25 is used, indexes that lost their statistics are rebuilt (repair_bm25_statistics)."""
    key = database_key(engine)
    if setting != "auto":
        decided: Lexical = setting
    else:
        if key not in _decided:
            async with engine.connect() as conn:
                _decided[key] = "bm25" if await bm25_ready(conn) else "ts_rank"
            log.info("full-text ranking: %s", _decided[key])
        decided = _decided[key]
    if decided == "bm25" and key not in _repaired:
        _repaired.add(key)  # once per process and database, also when two requests come at once
        await repair_bm25_statistics(engine)
    return decided


# pg_textsearch 1.0 keeps an index's corpus statistics (document count, total length) in shared memory,
# and on disk only when its memtable spills to a segment. PostgreSQL restarted with documents still in the
# memtable recovers the documents but not their count (upstream issue #350, fixed after 1.0): every IDF
# and length norm is then computed against a corpus of about no documents, and rankings fall apart (a
# second `v1tr0 eval smoke` on one data dir: SciFact nDCG@10 0.60 -> 0.24). A REINDEX recomputes them.
# An index counting fewer than this share of the rows it indexes has lost them (inserts in flight while
# checking, or deleted rows not yet vacuumed, move the two counts apart only a little).
STATISTICS_LOST_BELOW = 0.9
_repaired: set[str] = set()


async def repair_bm25_statistics(engine: AsyncEngine) -> list[str]:
    """Rebuild the BM25 indexes whose corpus statistics are lost (see above); returns their names.

    Under a transaction-level advisory lock, so that the API's workers starting together rebuild each
    index once (the others wait, then find it right). A database that cannot answer (no
    bm25_summarize_index rights, no pg_textsearch) is left as it is, with a warning."""
    rebuilt: list[str] = []
    try:
        async with engine.begin() as conn:
            # A rebuild takes seconds per 100,000 chunks: not bounded by the per-statement timeout.
            await conn.execute(sa.text("SET LOCAL statement_timeout = 0"))
            await conn.execute(sa.text("SELECT pg_advisory_xact_lock(hashtext('v1tr0:bm25-statistics'))"))
            # Each index's document count and the rows it indexes: one pass over the table for all three.
            counts = ", ".join(
                f"bm25_summarize_index('{index}') AS {column}_summary, "
                f"count(*) FILTER (WHERE {SEARCH_COLUMNS[column]}) AS {column}_rows"
                for column, index in BM25_INDEXES.items()
            )
            found = (await conn.execute(sa.text(f"SELECT {counts} FROM chunks"))).one()._mapping
            for column, index in BM25_INDEXES.items():
                total = re.search(r"total_docs: (\d+)", found[f"{column}_summary"] or "")
                counted = int(total[1]) if total else 0
                rows = found[f"{column}_rows"]
                if counted < rows * STATISTICS_LOST_BELOW:
                    log.warning("BM25 index %s counts %d of %d documents: rebuilt", index, counted, rows)
                    await conn.execute(sa.text(f"REINDEX INDEX {index}"))
                    rebuilt.append(index)
    except sa.exc.DBAPIError as exc:
        log.warning("BM25 statistics not checked (%s)", exc.orig)
    return rebuilt


def session_engine(session: AsyncSession) -> AsyncEngine:
    """The engine `session` is bound to (this module keeps its decisions per database)."""
    bind = session.bind
    if isinstance(bind, AsyncConnection):
        bind = bind.engine
    if bind is None:
        raise ValueError("search needs a session bound to the database engine")
    return bind


def database_key(engine: AsyncEngine) -> str:
    return engine.url.render_as_string(hide_password=True)


async def session_lexical(session: AsyncSession, setting: LexicalSetting) -> Lexical:
    """active_lexical for the database `session` is bound to."""
    return await active_lexical(session_engine(session), setting)


async def choose_lexical(engine: AsyncEngine, setting: LexicalSetting) -> Lexical | None:
    """Start-up: decide now, and refuse a forced BM25 that the database cannot run. A database that does
    not answer yet leaves the decision to the first search (readiness reports the database meanwhile)."""
    try:
        if setting == "bm25":
            async with engine.connect() as conn:
                ready = await bm25_ready(conn)
            if not ready:
                raise LexicalUnavailable(
                    "V1TR0_RETRIEVAL__LEXICAL=bm25, but the database has no usable BM25 indexes "
                    "(pg_textsearch preloaded, migration 0012 applied with it): see docs/deploy.md"
                )
        return await active_lexical(engine, setting)
    except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError) as exc:
        log.warning("full-text ranking not decided at start-up (%s): the first search decides", exc)
        return None


# Each side of a search says whether its chunk is a transcript unit: the hybrid weighs the two sides
# differently for speech (retrieval.search.transcript_vector_weight).
SPOKEN = f"c.source_type = '{SourceType.TRANSCRIPT.value}' AS spoken"


def bm25_side_sql(*, scope: str, projects: str, depth: int) -> str:
    """(id, rank, spoken) of the `depth` best chunks in `scope` by BM25, best first; rank is the positive
    score.

    One index scan per language column, filtered inside the scan (pg_textsearch scores deeper until
    `depth` rows pass, so a small project still gets its own best chunks). A language none of the
    `projects` (an unqualified predicate) has chunks in is skipped before its scan starts: its scan would
    find no row in scope and go on scoring every match elsewhere. `depth` is inlined (an int), so that
    pg_textsearch sees the LIMIT even in a generic plan."""
    depth = int(depth)
    per_language = "\n            UNION ALL\n".join(
        f"""            (SELECT c.id, bm25_get_current_score() AS score, {SPOKEN} FROM chunks c
             WHERE {scope} AND EXISTS (SELECT 1 FROM chunks x WHERE {projects} AND {holds})
             ORDER BY c.{column} <@> to_bm25query(:q_folded, '{BM25_INDEXES[column]}') LIMIT {depth})"""
        for column, holds in SEARCH_COLUMNS.items()
    )
    return f"""
        SELECT id, -score AS rank, spoken FROM (
{per_language}
        ) per_language
        WHERE score < 0
        ORDER BY score, id LIMIT {depth}"""


def ts_rank_side_sql(*, scope: str, query: str) -> str:
    """(id, rank, spoken) by length-normalised ts_rank of the OR-ed lexemes in the CTE column tq.{query}."""
    return f"""
        SELECT c.id, ts_rank(c.tsv, tq.{query}, 1) AS rank, {SPOKEN}
        FROM chunks c, tq WHERE {scope} AND c.tsv @@ tq.{query}
        ORDER BY rank DESC LIMIT :text_candidates"""


async def bm25_strategy(
    session: AsyncSession | AsyncConnection,
    *,
    project_ids: list[uuid.UUID],
    model: str,
) -> Bm25Strategy:
    """How BM25 runs over the projects' chunks of `model` (see the module's docstring): "rows" for at most
    SCOPED_FEW_ROWS of them, "scope" for at most SCOPED_MAX_FRACTION of the table, else "index"."""
    params = {**scope_size_params(), "project_ids": list(project_ids), "model": model}
    if isinstance(session, AsyncSession):  # a search's own session: on the driver (core.reads)
        way = (await session_rows(session, SCOPE_SIZE, params))[0].way
    else:
        way = await session.scalar(sa.text(SCOPE_SIZE), params)
    return cast(Bm25Strategy, way)


def bm25_way_sql(model: str) -> str:
    """An expression giving bm25_strategy's answer for :project_ids under the model named by `model` (an
    SQL expression). Counts the scope's index entries only up to the limit, so a global search pays for the
    limit (an index-only scan of a few thousand entries), not for the table."""
    return (
        "(WITH cap AS (SELECT greatest(:min_rows, :max_fraction * reltuples)::bigint AS n "
        "              FROM pg_class WHERE oid = 'chunks'::regclass) "
        "SELECT CASE WHEN count(*) <= least(:few_rows, (SELECT n FROM cap)) THEN 'rows' "
        "            WHEN count(*) <= (SELECT n FROM cap) THEN 'scope' ELSE 'index' END FROM ("
        f"    SELECT 1 FROM chunks WHERE project_id = ANY(:project_ids) AND embedding_model = {model} "
        "    LIMIT (SELECT n + 1 FROM cap)) scope)"
    )


SCOPE_SIZE = f"SELECT {bm25_way_sql(':model')} AS way"


def scope_size_params() -> dict[str, float]:
    """The bounds bm25_way_sql reads (:min_rows, :max_fraction, :few_rows)."""
    return {"min_rows": SCOPED_MIN_ROWS, "max_fraction": SCOPED_MAX_FRACTION, "few_rows": SCOPED_FEW_ROWS}


# The BM25 indexes' corpus statistics per language: (average document length, k1, b). Reading them costs
# ~0.4 ms of PostgreSQL per index (bm25_summarize_index walks the index's memory); the average length moves
# slowly with a large corpus, so a process keeps them for `bm25_statistics_ttl` seconds, unless the chunks
# table has changed by more than STATISTICS_DRIFT of its rows since (PostgreSQL's own counters of inserted,
# updated and deleted rows: a small corpus being filled refreshes them on every change, and a test's stale
# average length had put the answering source fourth instead of first). The words' IDF is read in every
# search. Keyed by database.
Statistics = dict[str, tuple[float | None, float, float]]
STATISTICS_DRIFT = 0.01
_statistics: dict[str, tuple[float, int, Statistics]] = {}
# The chunks table's change counter and live rows, for CorpusChanges (read with the search's scope).
CHUNK_CHANGES_SQL = (
    "(SELECT pg_stat_get_tuples_inserted(t) + pg_stat_get_tuples_updated(t) + pg_stat_get_tuples_deleted(t) "
    "FROM CAST('chunks' AS regclass) t) AS chunk_changes, "
    "(SELECT pg_stat_get_live_tuples(t) FROM CAST('chunks' AS regclass) t) AS chunk_rows"
)


@dataclass(frozen=True)
class CorpusChanges:
    """How many row changes the chunks table has seen, and its live rows (pg_stat, ~1 s behind)."""

    changes: int
    rows: int


STATISTICS = "SELECT " + ", ".join(
    f"bm25_summarize_index('{BM25_INDEXES[column]}') AS {language}"
    for language, (_, column) in LANGUAGES.items()
)


def parse_statistics(summary: str) -> tuple[float | None, float, float]:
    """(avgdl, k1, b) from bm25_summarize_index's text (None for an empty index)."""
    docs = re.search(r"total_docs: (\d+)", summary)
    length = re.search(r"total_len: (\d+)", summary)
    k1 = re.search(r"k1: ([0-9.]+)", summary)
    b = re.search(r"\sb: ([0-9.]+)", summary)
    if not (docs and length and k1 and b):
        raise ValueError("unexpected bm25_summarize_index output")
    avgdl = int(length[1]) / int(docs[1]) if int(docs[1]) else None
    return avgdl, float(k1[1]), float(b[1])


async def corpus_statistics(session: AsyncSession, *, ttl: float, corpus: CorpusChanges) -> Statistics:
    """Every language's (avgdl, k1, b), read again after `ttl` seconds or once the chunks have changed by
    more than STATISTICS_DRIFT of their rows since the last read."""
    key = database_key(session_engine(session))
    now = time.monotonic()
    cached = _statistics.get(key)
    if cached is not None:
        read_at, changes, statistics = cached
        if now - read_at < ttl and abs(corpus.changes - changes) <= STATISTICS_DRIFT * corpus.rows:
            return statistics
    row = (await session_rows(session, STATISTICS, {}))[0]
    statistics = {language: parse_statistics(getattr(row, language)) for language in LANGUAGES}
    _statistics[key] = (now, corpus.changes, statistics)
    return statistics


def statistics_params(statistics: Statistics) -> dict[str, list[Any]]:
    """The parameters bm25_scope_sql(cached=True) reads."""
    languages = list(statistics)
    return {
        "bm25_languages": languages,
        "bm25_avgdl": [statistics[language][0] for language in languages],
        "bm25_k1": [statistics[language][1] for language in languages],
        "bm25_b": [statistics[language][2] for language in languages],
    }


def _probe_weight(tf: str) -> str:
    """What one word with `tf` positions adds to a probe's score per unit of IDF: tf * (k1 + 1) /
    (tf + k1 * (1 - b + b * dl / avgdl)), times tf again as its frequency in the query (the probe's text
    is its query); dl (the probe's length) is below 40, where pg_textsearch stores lengths exactly."""
    return f"(({tf}) * ({tf}) * (p.k1 + 1) / (({tf}) + p.k1 * (1 - p.b + p.b * p.dl / p.avgdl)))"


PROJECTS_IN_SCOPE = "c.project_id = ANY(:project_ids)"


def unindexed(scope: str) -> str:
    """`scope` out of the planner's reach as index conditions, so that the scan for the query's words can
    only be the scope index's (whose tsquery names the projects already). Left to choose, the planner
    misjudged how many chunks a few projects (or the model) hold, took the (project, model) index or the
    (model, source) one, and rebuilt the project-marked tsvector of every chunk of the scope to test it:
    3.6 ms against 0.5 ms for 9 projects' 350 chunks (bench/load.py's global search)."""
    if PROJECTS_IN_SCOPE not in scope:
        raise ValueError("the scope must name its projects")
    return f"COALESCE(({scope}), false)"


def bm25_scope_sql(*, scope: str, depth: int, few: bool = False, cached: bool = False) -> tuple[str, str]:
    """(CTEs, side): BM25 of the `depth` best chunks in `scope`, computed over the stored tsvector of the
    scope's chunks that hold a query word (one GIN scan, migration 0013); (id, rank, spoken) like
    bm25_side_sql, with the same scores.

    Per language, pg_textsearch's formula (src/types/query.c, 1.0): the sum over the query's words of
    qf * idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * dl / avgdl)), where
    - tf and dl come from the chunk's tsvector (built from the same folded text with the same configuration
      as the BM25 column): the word's positions, and all positions (kept in chunks.tsv_length, migration
      0014); dl quantised as pg_textsearch stores it (Lucene's SmallFloat: exact below 40, then the top 4
      bits);
    - avgdl, k1, b from bm25_summarize_index (its corpus statistics);
    - idf from pg_textsearch: the score of a one-word text against that same word is
      idf * (k1 + 1) / (1 + k1 * (1 - b + b / avgdl)). The word as typed (a token of the query) is the
      probe, not its lexeme: a stem is not always its own stem. A hyphenated compound's token gives
      several lexemes (the whole, then its parts, which are tokens of their own too): its probe's score
      less its parts' share gives the whole's IDF. A word whose IDF stays unknown does not count.
    The chunk's tsvector is read once: setweight marks the query's words, then ts_filter keeps them."""
    depth = int(depth)
    query_words = "\n            UNION ALL ".join(
        f"SELECT '{language}' AS lang, w.lexeme, cardinality(w.positions) AS qf "
        f"FROM unnest(to_tsvector('{config}', :q_folded)) w"
        for language, (config, _) in LANGUAGES.items()
    )
    # Only for the languages of the chunks found: each probe opens a BM25 index.
    present = "EXISTS (SELECT 1 FROM bm25_found WHERE lang = '{language}')"
    if cached:  # corpus_statistics, as parameters
        statistics = (
            "SELECT * FROM unnest(CAST(:bm25_languages AS text[]), CAST(:bm25_avgdl AS float8[]), "
            "CAST(:bm25_k1 AS float8[]), CAST(:bm25_b AS float8[])) AS s(lang, avgdl, k1, b)"
        )
    else:  # read from the indexes now, for the languages of the chunks found
        summaries = "\n            UNION ALL ".join(
            f"SELECT '{language}' AS lang, bm25_summarize_index('{BM25_INDEXES[column]}') AS summary "
            f"WHERE {present.format(language=language)}"
            for language, (_, column) in LANGUAGES.items()
        )
        statistics = f"""
        SELECT lang,
               substring(summary FROM 'total_len: (\\d+)')::float8
                   / nullif(substring(summary FROM 'total_docs: (\\d+)')::float8, 0) AS avgdl,
               substring(summary FROM 'k1: ([0-9.]+)')::float8 AS k1,
               substring(summary FROM '\\sb: ([0-9.]+)')::float8 AS b
        FROM (
            {summaries}
        ) summaries
    """
    probes = "\n            UNION ALL ".join(
        f"""SELECT '{language}' AS lang, v.words,
                -bm25_text_bm25query_score(p.token, to_bm25query(p.token, '{BM25_INDEXES[column]}')) AS score
            FROM ts_parse('default', :q_folded) p
                 CROSS JOIN LATERAL to_tsvector('{config}', p.token) AS v(words)
            WHERE length(v.words) > 0 AND {present.format(language=language)}"""
        for language, (config, column) in LANGUAGES.items()
    )
    if few:  # the scope's chunks through the (project, model) index, each tested (the "rows" way)
        found = f"{scope} AND COALESCE(c.tsv @@ (SELECT words FROM bm25_query), false)"
    else:  # the scope index, and nothing else (unindexed)
        found = f"{unindexed(scope)} AND {SCOPED_TSV} @@ (SELECT scoped FROM bm25_query)"
    ctes = f"""
    bm25_words AS MATERIALIZED (
            {query_words}
    ),
    bm25_query AS (
        SELECT array_agg(DISTINCT lexeme) AS lexemes,
               (SELECT string_agg(quote_literal('project ' || p), ' | ')::tsquery
                FROM unnest(CAST(:project_ids AS uuid[])) p)
               && string_agg(DISTINCT quote_literal(lexeme), ' | ')::tsquery AS scoped,
               string_agg(DISTINCT quote_literal(lexeme), ' | ')::tsquery AS words
        FROM bm25_words
    ),
    bm25_found AS MATERIALIZED (
        SELECT c.id, {LANGUAGE_OF} AS lang, w.lexeme, cardinality(w.positions) AS tf, c.tsv_length AS dl,
               {SPOKEN}
        FROM chunks c CROSS JOIN bm25_query q
             CROSS JOIN LATERAL (SELECT setweight(c.tsv, 'A', q.lexemes) AS marked OFFSET 0) m
             CROSS JOIN LATERAL (SELECT f.lexeme, f.positions FROM unnest(ts_filter(m.marked, '{{a}}')) f) w
        WHERE {found}
    ),
    bm25_statistics AS MATERIALIZED ({statistics}),
    bm25_probes AS MATERIALIZED (
        SELECT probe.lang, probe.words, probe.score, s.k1, s.b, s.avgdl,
               (SELECT sum(cardinality(positions)) FROM unnest(probe.words)) AS dl
        FROM (
            {probes}
        ) probe JOIN bm25_statistics s USING (lang)
    ),
    bm25_single AS (
        SELECT DISTINCT ON (p.lang, w.lexeme) p.lang, w.lexeme, p.score / {_probe_weight("1")} AS idf
        FROM bm25_probes p CROSS JOIN LATERAL unnest(p.words) w
        WHERE length(p.words) = 1
    ),
    bm25_compound AS (
        SELECT DISTINCT ON (p.lang, x.lexeme) p.lang, x.lexeme, (p.score - x.known) / x.weight AS idf
        FROM bm25_probes p CROSS JOIN LATERAL (
            SELECT min(w.lexeme) FILTER (WHERE one.idf IS NULL) AS lexeme,
                   count(*) FILTER (WHERE one.idf IS NULL) AS unknown,
                   coalesce(sum(one.idf * {_probe_weight("cardinality(w.positions)")})
                            FILTER (WHERE one.idf IS NOT NULL), 0) AS known,
                   max({_probe_weight("cardinality(w.positions)")}) FILTER (WHERE one.idf IS NULL) AS weight
            FROM unnest(p.words) w LEFT JOIN bm25_single one ON one.lang = p.lang AND one.lexeme = w.lexeme
        ) x
        WHERE length(p.words) > 1 AND x.unknown = 1
    ),
    bm25_terms AS MATERIALIZED (
        SELECT w.lang, w.lexeme, w.qf, s.k1, s.b, s.avgdl, i.idf
        FROM bm25_words w
             JOIN (SELECT * FROM bm25_single UNION ALL SELECT * FROM bm25_compound) i USING (lang, lexeme)
             JOIN bm25_statistics s USING (lang)
    )"""
    side = f"""
        SELECT id, rank, spoken FROM (
            SELECT f.id, f.spoken, sum(t.qf * t.idf * f.tf * (t.k1 + 1)
                             / (f.tf + t.k1 * (1 - t.b + t.b * f.dl / t.avgdl))) AS rank
            FROM (
                SELECT id, spoken, lang, lexeme, tf,
                       CASE WHEN dl < 40 THEN dl ELSE 24 + floor((dl - 24) / 2 ^ e.bits) * 2 ^ e.bits END
                           AS dl
                FROM bm25_found
                     CROSS JOIN LATERAL (SELECT floor(ln(greatest(dl - 24, 1)) / ln(2) + 1e-9) - 3 AS bits) e
            ) f JOIN bm25_terms t USING (lang, lexeme)
            GROUP BY f.id, f.spoken
        ) scored
        WHERE rank > 0
        ORDER BY rank DESC, id LIMIT {depth}"""
    return ctes, side
