"""Every chunk's length as BM25 counts it (the positions of its tsvector), kept in its row: the scope way of
BM25 (retrieval/lexical.py) read it per matched word as the ratio of two ts_rank calls over the whole
tsvector, ~15 % of a one-project full-text search's execution at 100,000 chunks (docs/performance.md).

A stored generated column (computed from the text as `tsv` is: a generated column cannot read another),
through an immutable function that counts the positions; a lexeme without positions counts one, as
ts_rank's document length does. Adding it rewrites the table once.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07 17:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FUNCTION = "v1tr0_tsv_length"  # core.models.TSV_LENGTH_FUNCTION
FOLDED = (
    "translate(content, 'ÀÁÂÃÄÅàáâãäåÈÉÊËèéêëÌÍÎÏìíîïÒÓÔÕÖòóôõöÙÚÛÜùúûüÝýÿÑñÇç', "
    "'AAAAAAaaaaaaEEEEeeeeIIIIiiiiOOOOOoooooUUUUuuuuYyyNnCc')"
)
TSV = (
    f"CASE language WHEN 'es' THEN to_tsvector('spanish'::regconfig, {FOLDED}) "
    f"WHEN 'en' THEN to_tsvector('english'::regconfig, {FOLDED}) "
    f"ELSE to_tsvector('simple'::regconfig, {FOLDED}) END"
)


def upgrade() -> None:
    op.execute(
        "CREATE OR REPLACE FUNCTION v1tr0_tsv_length(tsvector) RETURNS integer "
        "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
        "AS $$ SELECT coalesce(sum(coalesce(cardinality(positions), 1)), 0)::integer FROM unnest($1) $$"
    )
    op.add_column(
        "chunks",
        sa.Column("tsv_length", sa.Integer(), sa.Computed(f"{FUNCTION}({TSV})", persisted=True)),
    )


def downgrade() -> None:
    op.drop_column("chunks", "tsv_length")
    op.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}(tsvector)")
