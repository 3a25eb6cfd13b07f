"""meetings: commitment ledger, webhook events, one active transcription per meeting

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 21:06:25.749274
"""

from collections.abc import Sequence

import pgvector.sqlalchemy
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ = pgvector.sqlalchemy


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("payload", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_webhook_events_event_id")),
    )
    op.create_table(
        "commitments",
        sa.Column("project_id", sa.Uuid(), nullable=False),
        sa.Column("meeting_id", sa.Uuid(), nullable=True),
        sa.Column("transcription_id", sa.Uuid(), nullable=True),
        sa.Column("owner_name", sa.String(length=200), nullable=True),
        sa.Column("owner_user_id", sa.Uuid(), nullable=True),
        sa.Column("task", sa.Text(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column(
            "status",
            sa.Enum(
                "open",
                "done",
                "dropped",
                name="commitment_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            server_default="open",
            nullable=False,
        ),
        sa.Column(
            "source_segments", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False
        ),
        sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_commitments_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["owner_user_id"],
            ["users.id"],
            name=op.f("fk_commitments_owner_user_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_commitments_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["transcription_id"],
            ["transcriptions.id"],
            name=op.f("fk_commitments_transcription_id_transcriptions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commitments")),
    )
    op.create_index(op.f("ix_commitments_meeting_id"), "commitments", ["meeting_id"], unique=False)
    op.create_index(op.f("ix_commitments_owner_user_id"), "commitments", ["owner_user_id"], unique=False)
    op.create_index("ix_commitments_project_status", "commitments", ["project_id", "status"], unique=False)
    op.create_index(
        op.f("ix_commitments_transcription_id"), "commitments", ["transcription_id"], unique=False
    )
    op.add_column("transcriptions", sa.Column("attempts", sa.Integer(), server_default="0", nullable=False))
    op.add_column(
        "transcriptions", sa.Column("stage", sa.String(length=32), server_default="queued", nullable=False)
    )
    op.add_column("transcriptions", sa.Column("summary_provider", sa.String(length=64), nullable=True))
    op.add_column("transcriptions", sa.Column("summary_model", sa.String(length=128), nullable=True))
    op.create_index(
        "uq_transcriptions_meeting_active",
        "transcriptions",
        ["meeting_id"],
        unique=True,
        postgresql_where=sa.text("processing_status IN ('pending', 'processing')"),
    )


def downgrade() -> None:
    op.drop_index(
        "uq_transcriptions_meeting_active",
        table_name="transcriptions",
        postgresql_where=sa.text("processing_status IN ('pending', 'processing')"),
    )
    op.drop_column("transcriptions", "summary_model")
    op.drop_column("transcriptions", "summary_provider")
    op.drop_column("transcriptions", "stage")
    op.drop_column("transcriptions", "attempts")
    op.drop_index(op.f("ix_commitments_transcription_id"), table_name="commitments")
    op.drop_index("ix_commitments_project_status", table_name="commitments")
    op.drop_index(op.f("ix_commitments_owner_user_id"), table_name="commitments")
    op.drop_index(op.f("ix_commitments_meeting_id"), table_name="commitments")
    op.drop_table("commitments")
    op.drop_table("webhook_events")
