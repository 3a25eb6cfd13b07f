"""commitments: when the event feed announced each one falling due and overdue (each is announced once),
and an index on the open commitments' due dates for the worker's sweep

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "commitments", sa.Column("due_soon_announced_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("commitments", sa.Column("overdue_announced_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_commitments_open_due",
        "commitments",
        ["due_date"],
        postgresql_where=sa.text("status = 'open' AND due_date IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_commitments_open_due", table_name="commitments")
    op.drop_column("commitments", "overdue_announced_at")
    op.drop_column("commitments", "due_soon_announced_at")
