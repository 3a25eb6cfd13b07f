"""documents: the uploaded original (size and checksum; the file lives in the data dir), its source
format, page count and conversion warnings

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-07 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("documents", sa.Column("source_format", sa.String(length=20), nullable=True))
    op.add_column("documents", sa.Column("page_count", sa.Integer(), nullable=True))
    op.add_column(
        "documents",
        sa.Column(
            "conversion_warnings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default="[]",
            nullable=False,
        ),
    )
    op.add_column("documents", sa.Column("file_size", sa.BigInteger(), nullable=True))
    op.add_column("documents", sa.Column("file_sha256", sa.String(length=64), nullable=True))


def downgrade() -> None:
    for column in ("file_sha256", "file_size", "conversion_warnings", "page_count", "source_format"):
        op.drop_column("documents", column)
