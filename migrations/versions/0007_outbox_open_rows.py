"""outbox: a partial index of unfinished rows per project, for the index_pending check of every answer

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 01:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_outbox_project_open", "outbox", ["project_id"], postgresql_where=sa.text("status <> 'done'")
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_project_open", table_name="outbox")
