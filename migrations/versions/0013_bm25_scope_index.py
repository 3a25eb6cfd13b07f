"""BM25 for small scopes, and every chunk's tsvector kept in its row: a GIN index over each chunk's tsvector plus one lexeme naming its project, so that
"the chunks of these projects holding any of the query's words" is one index scan that reads only the
projects' entries of each word (GIN skips through the long lists of common words to the rare project
lexeme's items). Search scores those few chunks with BM25 itself instead of walking the BM25 index, which
scores every chunk of the corpus that holds a query word and filters the scope afterwards
(retrieval/lexical.py).

Only where migration 0012 built the BM25 indexes: without pg_textsearch search ranks with ts_rank and
the index would cost every write for nothing.

Both full-text rankings read the tsvector of every chunk they score. At ~1.2 kB it was moved out of the
row into the TOAST table with the text, and each read cost a TOAST index lookup (3.5 us against 0.5 us in
the row, on 1,500 chunks). Storage MAIN keeps it in the row and sends the text out first. It applies to
rows written from now on; `VACUUM FULL chunks` moves the existing ones (docs/deploy.md).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 07:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEX = "ix_chunks_bm25_scope"
# retrieval.lexical.SCOPED_TSV without the table alias; the planner matches the two expressions. A space
# makes the project lexeme one that no text can produce (the parser never puts one in a token).
EXPRESSION = "(tsv || array_to_tsvector(ARRAY['project ' || project_id::text]))"


def create_scope_index(bind: sa.Connection) -> bool:
    has_bm25 = bind.scalar(sa.text("SELECT to_regclass('ix_chunks_bm25_en') IS NOT NULL"))
    if has_bm25:
        bind.execute(sa.text(f"CREATE INDEX IF NOT EXISTS {INDEX} ON chunks USING gin ({EXPRESSION})"))
    return bool(has_bm25)


def upgrade() -> None:
    op.execute("ALTER TABLE chunks ALTER COLUMN tsv SET STORAGE MAIN")
    create_scope_index(op.get_bind())


def downgrade() -> None:
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    op.execute("ALTER TABLE chunks ALTER COLUMN tsv SET STORAGE EXTENDED")
