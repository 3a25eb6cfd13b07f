"""The lexical (full-text) side of search: BM25 through pg_textsearch where the database has it, else the
portable ranking that runs on any PostgreSQL (length-normalised ts_rank over the stored tsvector).

Which one runs is decided once per process and database, the first time it is asked (the API asks at
start-up), and shown in /health/ready and in every search response. `V1TR0_RETRIEVAL__LEXICAL` forces
either one; `auto` (the default) picks BM25 when its indexes are there and usable.

BM25: every chunk's accent-folded text sits in the column of its language (core.models.SEARCH_COLUMNS), each
with its own BM25 index (migration 0012). A query runs against each index, scoped to the caller's projects
inside the index scan (pg_textsearch rescans deeper until enough rows pass the filter), and the lists
merge by score: BM25 scores of one query are comparable across the indexes.
"""

from __future__ import annotations

import logging
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from core.models import FOLD_FROM, FOLD_TO, SEARCH_COLUMNS

log = logging.getLogger(__name__)

Lexical = Literal["bm25", "ts_rank"]
LexicalSetting = Literal["auto", "bm25", "ts_rank"]

BM25_INDEXES = {column: "ix_chunks_bm25_" + column.removeprefix("search_") for column in SEARCH_COLUMNS}
# Migration 0012 makes pg_textsearch's per-row scoring function this expensive for the planner, so that a
# BM25 ORDER BY always runs as the index scan: only there does bm25_get_current_score() return the row's
# score (elsewhere it would return a stale one), and only there is it fast (per row, the function
# re-tokenises the chunk's text).
SCORE_FUNCTION_COST = 1_000_000
_FOLD = str.maketrans(FOLD_FROM, FOLD_TO)

_decided: dict[str, Lexical] = {}


class LexicalUnavailable(RuntimeError):
    pass


def fold_accents(text: str) -> str:
    """The query folded as the BM25 columns are ("Reunión" -> "Reunion")."""
    return text.translate(_FOLD)


async def bm25_ready(conn: AsyncConnection) -> bool:
    """pg_textsearch's library is loaded, every BM25 index exists and is valid, and the scoring function
    carries the planner cost migration 0012 gives it (an extension update would reset it)."""
    names = list(BM25_INDEXES.values())
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
    return bool(row.loaded) and row.indexes == len(names) and (row.cost or 0) >= SCORE_FUNCTION_COST


async def active_lexical(engine: AsyncEngine, setting: LexicalSetting) -> Lexical:
    """The lexical ranking this process uses on `engine`'s database: decided on the first call, then kept."""
    if setting != "auto":
        return setting
    key = engine.url.render_as_string(hide_password=True)
    if key not in _decided:
        async with engine.connect() as conn:
            _decided[key] = "bm25" if await bm25_ready(conn) else "ts_rank"
        log.info("full-text ranking: %s", _decided[key])
    return _decided[key]


async def session_lexical(session: AsyncSession, setting: LexicalSetting) -> Lexical:
    """active_lexical for the database `session` is bound to."""
    bind = session.bind
    if isinstance(bind, AsyncConnection):
        bind = bind.engine
    if bind is None:
        raise ValueError("search needs a session bound to the database engine")
    return await active_lexical(bind, setting)


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


def bm25_side_sql(*, scope: str, projects: str, depth: int) -> str:
    """(id, rank) of the `depth` best chunks in `scope` by BM25, best first; rank is the positive score.

    One index scan per language column, filtered inside the scan (pg_textsearch scores deeper until
    `depth` rows pass, so a small project still gets its own best chunks). A language none of the
    `projects` (an unqualified predicate) has chunks in is skipped before its scan starts: its scan would
    find no row in scope and go on scoring every match elsewhere. `depth` is inlined (an int), so that
    pg_textsearch sees the LIMIT even in a generic plan."""
    depth = int(depth)
    per_language = "\n            UNION ALL\n".join(
        f"""            (SELECT c.id, bm25_get_current_score() AS score FROM chunks c
             WHERE {scope} AND EXISTS (SELECT 1 FROM chunks x WHERE {projects} AND {holds})
             ORDER BY c.{column} <@> to_bm25query(:q_folded, '{BM25_INDEXES[column]}') LIMIT {depth})"""
        for column, holds in SEARCH_COLUMNS.items()
    )
    return f"""
        SELECT id, -score AS rank FROM (
{per_language}
        ) per_language
        WHERE score < 0
        ORDER BY score, id LIMIT {depth}"""


def ts_rank_side_sql(*, scope: str, query: str) -> str:
    """(id, rank) by length-normalised ts_rank of the OR-ed lexemes in the CTE column tq.{query}."""
    return f"""
        SELECT c.id, ts_rank(c.tsv, tq.{query}, 1) AS rank
        FROM chunks c, tq WHERE {scope} AND c.tsv @@ tq.{query}
        ORDER BY rank DESC LIMIT :text_candidates"""
