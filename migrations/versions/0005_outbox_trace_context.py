"""outbox: the W3C trace context of the request that recorded a change, so its job joins the trace

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("outbox", sa.Column("trace_context", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("outbox", "trace_context")
