"""meetings: transcript availability announced by Jitsi webhooks

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 21:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("meetings", sa.Column("transcript_url", sa.String(length=2048), nullable=True))
    op.add_column("meetings", sa.Column("transcript_status", sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column("meetings", "transcript_status")
    op.drop_column("meetings", "transcript_url")
