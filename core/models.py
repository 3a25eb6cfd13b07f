"""SQLAlchemy ORM models: every table of the data model (SPEC §4)."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlalchemy.orm import DeclarativeBase, Mapped, column_property, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: sa.DateTime(timezone=True),
        dict[str, Any]: JSONB,
    }


class Timestamped:
    # Fetch server-generated values (timestamps, identities) with INSERT/UPDATE ... RETURNING, so that
    # reading them never needs a lazy load (which async sessions forbid).
    __mapper_args__: ClassVar[dict[str, Any]] = {"eager_defaults": True}

    created_at: Mapped[datetime] = mapped_column(server_default=sa.func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=sa.func.now(), onupdate=sa.func.now())


class Entity(Timestamped):
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)


def str_enum(cls: type[enum.StrEnum], name: str) -> sa.Enum:
    """A checked VARCHAR holding the enum's values (not its names)."""
    return sa.Enum(
        cls,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=32,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class ClientStatus(enum.StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    PROSPECT = "prospect"


class Priority(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    URGENT = "urgent"


class ProjectStatus(enum.StrEnum):
    PLANNED = "planned"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    ON_HOLD = "on-hold"
    CANCELLED = "cancelled"


class MemberRole(enum.StrEnum):
    VIEWER = "viewer"
    EDITOR = "editor"
    OWNER = "owner"

    @property
    def rank(self) -> int:
        return {"viewer": 1, "editor": 2, "owner": 3}[self.value]


class MeetingStatus(enum.StrEnum):
    SCHEDULED = "scheduled"
    IN_PROGRESS = "in-progress"
    COMPLETED = "completed"
    CANCELLED = "cancelled"


class TranscriptionStage(enum.StrEnum):
    """Where a transcription is in its pipeline (progress shown to users; `processing_status` is the
    coarse state)."""

    QUEUED = "queued"
    TRANSCRIBING = "transcribing"
    SUMMARISING = "summarising"
    INDEXING = "indexing"
    INDEXED = "indexed"
    FAILED = "failed"


class ChatStatus(enum.StrEnum):
    """A chat turn: generating, or how it ended."""

    PENDING = "pending"
    STREAMING = "streaming"
    COMPLETED = "completed"
    STOPPED = "stopped"  # the user pressed stop
    INTERRUPTED = "interrupted"  # nobody was listening any more, or the server stopped
    FAILED = "failed"


class ProcessingStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"


class MessageType(enum.StrEnum):
    CHAT = "chat"
    QUESTION = "question"
    COMMAND = "command"


class SourceType(enum.StrEnum):
    PROJECT = "project"
    DOCUMENT = "document"
    MEETING = "meeting"
    TRANSCRIPT = "transcript"
    SUMMARY = "summary"
    KEY_POINTS = "key_points"
    COMMITMENTS = "commitments"
    CHAT = "chat"


class OutboxAction(enum.StrEnum):
    UPSERT = "upsert"
    DELETE = "delete"


class OutboxStatus(enum.StrEnum):
    PENDING = "pending"
    PROCESSING = "processing"
    DONE = "done"
    FAILED = "failed"


class User(Entity, Base):
    __tablename__ = "users"

    supabase_id: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    email: Mapped[str] = mapped_column(sa.String(320), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(200), server_default="")
    avatar_url: Mapped[str | None] = mapped_column(sa.String(2048))
    is_active: Mapped[bool] = mapped_column(server_default=sa.true())
    is_admin: Mapped[bool] = mapped_column(server_default=sa.false())
    password_hash: Mapped[str | None] = mapped_column(sa.String(255))
    last_login_at: Mapped[datetime | None]


class RefreshToken(Entity, Base):
    """A rotating refresh token; only its hash is stored. A family shares one login."""

    __tablename__ = "refresh_tokens"

    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    used_at: Mapped[datetime | None]


class Client(Entity, Base):
    __tablename__ = "clients"

    name: Mapped[str] = mapped_column(sa.String(200))
    company: Mapped[str | None] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(320))
    phone: Mapped[str | None] = mapped_column(sa.String(50))
    address: Mapped[str | None] = mapped_column(sa.String(500))
    city: Mapped[str | None] = mapped_column(sa.String(100))
    country: Mapped[str | None] = mapped_column(sa.String(100))
    status: Mapped[ClientStatus] = mapped_column(
        str_enum(ClientStatus, "client_status"), server_default=ClientStatus.PROSPECT.value
    )
    priority: Mapped[Priority] = mapped_column(
        str_enum(Priority, "client_priority"), server_default=Priority.MEDIUM.value
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )


class Project(Entity, Base):
    __tablename__ = "projects"
    __table_args__ = (
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name="progress_range"),
        sa.CheckConstraint("budget IS NULL OR budget >= 0", name="budget_nonnegative"),
        sa.CheckConstraint("hourly_rate IS NULL OR hourly_rate >= 0", name="rate_nonnegative"),
        sa.CheckConstraint("estimated_hours IS NULL OR estimated_hours >= 0", name="estimate_nonnegative"),
        sa.CheckConstraint("actual_hours >= 0", name="actual_nonnegative"),
        sa.CheckConstraint(
            "end_date IS NULL OR start_date IS NULL OR end_date >= start_date", name="dates_ordered"
        ),
    )

    title: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str] = mapped_column(sa.Text, server_default="")
    status: Mapped[ProjectStatus] = mapped_column(
        str_enum(ProjectStatus, "project_status"), server_default=ProjectStatus.PLANNED.value, index=True
    )
    progress: Mapped[int] = mapped_column(server_default="0")
    priority: Mapped[Priority] = mapped_column(
        str_enum(Priority, "project_priority"), server_default=Priority.MEDIUM.value
    )
    start_date: Mapped[date | None]
    end_date: Mapped[date | None]
    deadline: Mapped[date | None]
    budget: Mapped[Decimal | None] = mapped_column(sa.Numeric(14, 2))
    hourly_rate: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2))
    estimated_hours: Mapped[Decimal | None] = mapped_column(sa.Numeric(10, 2))
    actual_hours: Mapped[Decimal] = mapped_column(sa.Numeric(10, 2), server_default="0")
    client_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("clients.id", ondelete="SET NULL"), index=True
    )
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # An evaluation corpus (evals/): searched by the eval runner only, never visible through the API.
    is_eval: Mapped[bool] = mapped_column(server_default=sa.false())


class ProjectMember(Entity, Base):
    __tablename__ = "project_members"
    __table_args__ = (sa.UniqueConstraint("project_id", "user_id"),)

    project_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[MemberRole] = mapped_column(str_enum(MemberRole, "member_role"))

    user: Mapped[User] = relationship(lazy="raise")


class Document(Entity, Base):
    __tablename__ = "documents"

    project_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    title: Mapped[str] = mapped_column(sa.String(300))
    content: Mapped[str] = mapped_column(sa.Text)
    source_filename: Mapped[str | None] = mapped_column(sa.String(300))
    mime_type: Mapped[str] = mapped_column(sa.String(100), server_default="text/plain")
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    size: Mapped[int] = column_property(sa.func.char_length(content))
    # An uploaded file: what it was converted from, and the original kept on disk (core/document_files.py).
    source_format: Mapped[str | None] = mapped_column(sa.String(20))
    page_count: Mapped[int | None]
    conversion_warnings: Mapped[list[Any]] = mapped_column(JSONB, server_default="[]")
    file_size: Mapped[int | None] = mapped_column(sa.BigInteger)
    file_sha256: Mapped[str | None] = mapped_column(sa.String(64))


class Meeting(Entity, Base):
    __tablename__ = "meetings"
    __table_args__ = (
        sa.CheckConstraint("end_time IS NULL OR start_time IS NULL OR end_time >= start_time", name="times"),
    )

    title: Mapped[str] = mapped_column(sa.String(300))
    description: Mapped[str] = mapped_column(sa.Text, server_default="")
    room_id: Mapped[str] = mapped_column(sa.String(100), unique=True)
    start_time: Mapped[datetime | None] = mapped_column(index=True)
    end_time: Mapped[datetime | None]
    status: Mapped[MeetingStatus] = mapped_column(
        str_enum(MeetingStatus, "meeting_status"), server_default=MeetingStatus.SCHEDULED.value
    )
    recording_url: Mapped[str | None] = mapped_column(sa.String(2048))
    recording_status: Mapped[str | None] = mapped_column(sa.String(32))
    transcript_url: Mapped[str | None] = mapped_column(sa.String(2048))
    transcript_status: Mapped[str | None] = mapped_column(sa.String(32))
    project_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))


class MeetingParticipant(Entity, Base):
    __tablename__ = "meeting_participants"

    meeting_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    joined_at: Mapped[datetime] = mapped_column(server_default=sa.func.now())
    left_at: Mapped[datetime | None]


def _meeting_duration() -> sa.ColumnElement[float]:
    """Seconds from start_time to end_time; without both, from the first join to the last leave (once
    everyone has left)."""
    everyone_left = sa.and_(sa.func.count() > 0, sa.func.count() == sa.func.count(MeetingParticipant.left_at))
    first_to_last = sa.func.max(MeetingParticipant.left_at) - sa.func.min(MeetingParticipant.joined_at)
    attended = (
        sa.select(sa.case((everyone_left, sa.extract("epoch", first_to_last))))
        .where(MeetingParticipant.meeting_id == Meeting.id)
        .correlate_except(MeetingParticipant)
        .scalar_subquery()
    )
    scheduled = sa.extract("epoch", Meeting.end_time - Meeting.start_time)
    both_times = sa.and_(Meeting.start_time.is_not(None), Meeting.end_time.is_not(None))
    return sa.cast(sa.case((both_times, scheduled), else_=attended), sa.Float)


# Added after MeetingParticipant, which it reads. Like any SQL-expression attribute it is expired when the
# meeting is flushed: refresh it before reading it again (async sessions cannot lazy-load).
Meeting.__mapper__.add_property("duration_seconds", column_property(_meeting_duration()))


class Transcription(Entity, Base):
    __tablename__ = "transcriptions"
    __table_args__ = (
        # One transcription in flight per meeting: a second concurrent upload is a conflict.
        sa.Index(
            "uq_transcriptions_meeting_active",
            "meeting_id",
            unique=True,
            postgresql_where=sa.text("processing_status IN ('pending', 'processing')"),
        ),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name="progress_range"),
        sa.CheckConstraint(
            "confidence_score IS NULL OR confidence_score BETWEEN 0 AND 1", name="confidence_range"
        ),
    )

    meeting_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    source_kind: Mapped[str] = mapped_column(sa.String(16), server_default="audio")
    audio_path: Mapped[str | None] = mapped_column(sa.String(1024))
    audio_mime: Mapped[str | None] = mapped_column(sa.String(100))
    language: Mapped[str | None] = mapped_column(sa.String(16))
    duration_seconds: Mapped[float | None]
    transcript_text: Mapped[str] = mapped_column(sa.Text, server_default="")
    segments: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, server_default="[]")
    summary: Mapped[str | None] = mapped_column(sa.Text)
    key_points: Mapped[list[Any]] = mapped_column(JSONB, server_default="[]")
    decisions: Mapped[list[Any]] = mapped_column(JSONB, server_default="[]")
    commitments: Mapped[list[Any]] = mapped_column(JSONB, server_default="[]")
    next_steps: Mapped[list[Any]] = mapped_column(JSONB, server_default="[]")
    processing_status: Mapped[ProcessingStatus] = mapped_column(
        str_enum(ProcessingStatus, "transcription_status"),
        server_default=ProcessingStatus.PENDING.value,
        index=True,
    )
    progress: Mapped[int] = mapped_column(server_default="0")
    stage: Mapped[TranscriptionStage] = mapped_column(
        str_enum(TranscriptionStage, "transcription_stage"), server_default=TranscriptionStage.QUEUED.value
    )
    attempts: Mapped[int] = mapped_column(server_default="0")
    error: Mapped[str | None] = mapped_column(sa.Text)
    confidence_score: Mapped[float | None]
    provider: Mapped[str | None] = mapped_column(sa.String(64))
    model: Mapped[str | None] = mapped_column(sa.String(128))
    prompt_name: Mapped[str | None] = mapped_column(sa.String(64))
    prompt_version: Mapped[str | None] = mapped_column(sa.String(64))
    summary_provider: Mapped[str | None] = mapped_column(sa.String(64))
    summary_model: Mapped[str | None] = mapped_column(sa.String(128))


class CommitmentStatus(enum.StrEnum):
    OPEN = "open"
    DONE = "done"
    DROPPED = "dropped"


class Commitment(Entity, Base):
    """Who promised what, by when: one row per commitment heard in a meeting (the commitment ledger)."""

    __tablename__ = "commitments"
    __table_args__ = (
        sa.Index("ix_commitments_project_status", "project_id", "status"),
        # The worker's sweep for commitments falling due or overdue (meetings/reminders.py).
        sa.Index(
            "ix_commitments_open_due",
            "due_date",
            postgresql_where=sa.text("status = 'open' AND due_date IS NOT NULL"),
        ),
    )

    project_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    meeting_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    transcription_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("transcriptions.id", ondelete="SET NULL"), index=True
    )
    owner_name: Mapped[str | None] = mapped_column(sa.String(200))
    owner_user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    task: Mapped[str] = mapped_column(sa.Text)
    due_date: Mapped[date | None]
    status: Mapped[CommitmentStatus] = mapped_column(
        str_enum(CommitmentStatus, "commitment_status"), server_default=CommitmentStatus.OPEN.value
    )
    source_segments: Mapped[list[Any]] = mapped_column(JSONB, server_default="[]")
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    # When the project's event feed announced it falling due / overdue: each is announced once.
    due_soon_announced_at: Mapped[datetime | None]
    overdue_announced_at: Mapped[datetime | None]


class WebhookEvent(Entity, Base):
    """Meeting-provider webhooks already applied (idempotency on the provider's event id)."""

    __tablename__ = "webhook_events"

    provider: Mapped[str] = mapped_column(sa.String(32))
    event_id: Mapped[str] = mapped_column(sa.String(200), unique=True)
    event_type: Mapped[str] = mapped_column(sa.String(100))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class ChatMessage(Entity, Base):
    __tablename__ = "chat_messages"

    project_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("projects.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    conversation_id: Mapped[uuid.UUID] = mapped_column(index=True, default=uuid.uuid4)
    message: Mapped[str] = mapped_column(sa.Text)
    ai_response: Mapped[str] = mapped_column(sa.Text, server_default="")
    message_type: Mapped[MessageType] = mapped_column(
        str_enum(MessageType, "message_type"), server_default=MessageType.CHAT.value
    )
    context_used: Mapped[list[Any]] = mapped_column(JSONB, server_default="[]")
    processing_status: Mapped[ChatStatus] = mapped_column(
        str_enum(ChatStatus, "chat_status"), server_default=ChatStatus.PENDING.value
    )
    error: Mapped[str | None] = mapped_column(sa.Text)
    provider: Mapped[str | None] = mapped_column(sa.String(64))
    model: Mapped[str | None] = mapped_column(sa.String(128))
    prompt_name: Mapped[str | None] = mapped_column(sa.String(64))
    prompt_version: Mapped[str | None] = mapped_column(sa.String(64))
    usage: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


# Accent folding without the unaccent extension (the embedded engine has no contrib): translate() is
# immutable, so stored columns and queries fold the same way ("reunión" and "reunion" are one word).
FOLD_FROM = "ÀÁÂÃÄÅàáâãäåÈÉÊËèéêëÌÍÎÏìíîïÒÓÔÕÖòóôõöÙÚÛÜùúûüÝýÿÑñÇç"
FOLD_TO = "AAAAAAaaaaaaEEEEeeeeIIIIiiiiOOOOOoooooUUUUuuuuYyyNnCc"


def fold_sql(expression: str) -> str:
    return f"translate({expression}, '{FOLD_FROM}', '{FOLD_TO}')"


TSV_EXPRESSION = (
    f"CASE language WHEN 'es' THEN to_tsvector('spanish'::regconfig, {fold_sql('content')}) "
    f"WHEN 'en' THEN to_tsvector('english'::regconfig, {fold_sql('content')}) "
    f"ELSE to_tsvector('simple'::regconfig, {fold_sql('content')}) END"
)
TSV_LENGTH_FUNCTION = "v1tr0_tsv_length"  # created by migration 0014
# The folded text of a chunk in the column of its language and NULL in the others: one BM25 index per
# column, each with its language's text configuration and statistics (retrieval/lexical.py). pg_textsearch
# 1.0 ignores a partial index's predicate when it builds, hence columns rather than partial indexes.
SEARCH_COLUMNS = {
    "search_es": "language = 'es'",
    "search_en": "language = 'en'",
    "search_simple": "language NOT IN ('es', 'en')",
}


def search_text_expression(column: str) -> str:
    return f"CASE WHEN {SEARCH_COLUMNS[column]} THEN {fold_sql('content')} END"


class Chunk(Timestamped, Base):
    """One embedded piece of a project artifact. `embedding` is an untyped vector so that several models
    (and dimensions) live side by side; each model has its own partial HNSW index on a cast expression."""

    __tablename__ = "chunks"
    __table_args__ = (
        sa.UniqueConstraint("embedding_model", "source_type", "source_id", "chunk_index"),
        sa.Index("ix_chunks_source", "source_type", "source_id"),
        # With the language: search asks which languages a project has (an index-only probe).
        sa.Index("ix_chunks_project_model", "project_id", "embedding_model", "language"),
        sa.Index("ix_chunks_tsv", "tsv", postgresql_using="gin"),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    project_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("projects.id", ondelete="CASCADE"))
    source_type: Mapped[SourceType] = mapped_column(str_enum(SourceType, "chunk_source_type"))
    source_id: Mapped[uuid.UUID]
    chunk_index: Mapped[int]
    content: Mapped[str] = mapped_column(sa.Text)
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    token_count: Mapped[int]
    language: Mapped[str] = mapped_column(sa.String(8), server_default="simple")
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, server_default="{}")
    embedding: Mapped[Any] = mapped_column(Vector())
    embedding_model: Mapped[str] = mapped_column(sa.String(128))
    tsv: Mapped[Any] = mapped_column(TSVECTOR, sa.Computed(TSV_EXPRESSION, persisted=True))
    # Its length as BM25 counts it (the tsvector's positions; migration 0014): the scope way of BM25 reads it.
    tsv_length: Mapped[int | None] = mapped_column(
        sa.Integer, sa.Computed(f"{TSV_LENGTH_FUNCTION}({TSV_EXPRESSION})", persisted=True), deferred=True
    )
    search_es: Mapped[str | None] = mapped_column(
        sa.Text, sa.Computed(search_text_expression("search_es"), persisted=True), deferred=True
    )
    search_en: Mapped[str | None] = mapped_column(
        sa.Text, sa.Computed(search_text_expression("search_en"), persisted=True), deferred=True
    )
    search_simple: Mapped[str | None] = mapped_column(
        sa.Text, sa.Computed(search_text_expression("search_simple"), persisted=True), deferred=True
    )


class ModelStatus(enum.StrEnum):
    BUILDING = "building"  # chunks being built; not searched yet
    SERVING = "serving"  # the model searches use
    RETIRED = "retired"


class EmbeddingModel(Timestamped, Base):
    """Which embedding model serves searches. A new model is built beside the serving one and takes over
    only once every artifact has its chunks, so a switch never leaves an empty index."""

    __tablename__ = "embedding_models"

    name: Mapped[str] = mapped_column(sa.String(128), primary_key=True)
    dimensions: Mapped[int]
    status: Mapped[ModelStatus] = mapped_column(str_enum(ModelStatus, "model_status"))


class Outbox(Timestamped, Base):
    """Durable record of an artifact change, written in the same transaction as the change."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index("ix_outbox_status_available", "status", "available_at"),
        # What answers check on every question: does the project have changes not yet indexed?
        sa.Index("ix_outbox_project_open", "project_id", postgresql_where=sa.text("status <> 'done'")),
    )

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    project_id: Mapped[uuid.UUID | None]
    source_type: Mapped[SourceType] = mapped_column(str_enum(SourceType, "outbox_source_type"))
    source_id: Mapped[uuid.UUID]
    action: Mapped[OutboxAction] = mapped_column(str_enum(OutboxAction, "outbox_action"))
    status: Mapped[OutboxStatus] = mapped_column(
        str_enum(OutboxStatus, "outbox_status"), server_default=OutboxStatus.PENDING.value
    )
    attempts: Mapped[int] = mapped_column(server_default="0")
    dispatches: Mapped[int] = mapped_column(server_default="0")
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    available_at: Mapped[datetime] = mapped_column(server_default=sa.func.now())
    enqueued_at: Mapped[datetime | None]
    processed_at: Mapped[datetime | None]
    request_id: Mapped[str | None] = mapped_column(sa.String(64))
    # W3C traceparent of the span that recorded the change; the job's span continues that trace.
    trace_context: Mapped[str | None] = mapped_column(sa.String(64))
    embedding_model: Mapped[str | None] = mapped_column(sa.String(128))


class EvalDataset(Entity, Base):
    """A dataset loaded into its own eval project, keyed by name and content hash: loading the same
    content again reuses the project and its chunks (nothing is embedded twice)."""

    __tablename__ = "eval_datasets"
    __table_args__ = (sa.UniqueConstraint("name", "content_hash"),)

    name: Mapped[str] = mapped_column(sa.String(200))
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    format: Mapped[str] = mapped_column(sa.String(32))
    project_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("projects.id", ondelete="CASCADE"), unique=True
    )
    documents: Mapped[int] = mapped_column(server_default="0")
    # Per embedding model: chunk count and chunking settings of the last complete load.
    loaded: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")


class EvalRunStatus(enum.StrEnum):
    QUEUED = "queued"  # created through the API, waiting for a worker
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class EvalRun(Entity, Base):
    """One evaluation run: what was measured (dataset, prompt, models, settings, commit) and the result."""

    __tablename__ = "eval_runs"
    __table_args__ = (sa.Index("ix_eval_runs_status", "status"),)

    kind: Mapped[str] = mapped_column(sa.String(16))  # retrieval | answers
    dataset_name: Mapped[str] = mapped_column(sa.String(200))
    dataset_hash: Mapped[str | None] = mapped_column(sa.String(64))
    split: Mapped[str | None] = mapped_column(sa.String(64))
    prompt_name: Mapped[str | None] = mapped_column(sa.String(64))
    prompt_version: Mapped[str | None] = mapped_column(sa.String(64))
    provider: Mapped[str | None] = mapped_column(sa.String(64))
    model: Mapped[str | None] = mapped_column(sa.String(128))
    embedding_model: Mapped[str | None] = mapped_column(sa.String(128))
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    git_commit: Mapped[str | None] = mapped_column(sa.String(64))
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    timings: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    status: Mapped[EvalRunStatus] = mapped_column(
        str_enum(EvalRunStatus, "eval_run_status"), server_default=EvalRunStatus.RUNNING.value
    )
    error: Mapped[str | None] = mapped_column(sa.Text)
    item_count: Mapped[int] = mapped_column(server_default="0")
    runner: Mapped[str | None] = mapped_column(sa.String(200))  # host:pid of the process running it
    heartbeat_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))


class EvalItem(Base):
    """One question of a run: what was retrieved and answered, how long it took, and its metrics."""

    __tablename__ = "eval_items"
    __table_args__ = (sa.UniqueConstraint("run_id", "item_key"),)

    id: Mapped[int] = mapped_column(sa.BigInteger, sa.Identity(), primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("eval_runs.id", ondelete="CASCADE"))
    item_key: Mapped[str] = mapped_column(sa.String(200))
    question: Mapped[str] = mapped_column(sa.Text)
    reference_answer: Mapped[str | None] = mapped_column(sa.Text)
    answer: Mapped[str | None] = mapped_column(sa.Text)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default="{}")
    retrieved_ids: Mapped[list[Any]] = mapped_column(JSONB, server_default="[]")
    contexts: Mapped[list[Any]] = mapped_column(JSONB, server_default="[]")
    latency_ms: Mapped[float | None]
