"""chat_messages.processing_status and transcriptions.stage become checked enums (ChatStatus,
TranscriptionStage): the API and the worker compare them, so a misspelt value must not be storable

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 02:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHAT_STATUSES = ("pending", "streaming", "completed", "stopped", "interrupted", "failed")
STAGES = ("queued", "transcribing", "summarising", "indexing", "indexed", "failed")


def _values(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{value}'" for value in values)


def upgrade() -> None:
    op.create_check_constraint(
        op.f("ck_chat_messages_chat_status"),
        "chat_messages",
        f"processing_status IN ({_values(CHAT_STATUSES)})",
    )
    op.create_check_constraint(
        op.f("ck_transcriptions_transcription_stage"), "transcriptions", f"stage IN ({_values(STAGES)})"
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_transcriptions_transcription_stage"), "transcriptions", type_="check")
    op.drop_constraint(op.f("ck_chat_messages_chat_status"), "chat_messages", type_="check")
