"""The ingestion job: apply one outbox row to the index. Takes an id, re-reads everything, idempotent."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import feed, keys
from core.events import note_failure, publish_meeting
from core.feed import FeedEvent
from core.logs import request_id_var
from core.metrics import record_embedded
from core.models import Outbox, OutboxAction, OutboxStatus, SourceType, Transcription, TranscriptionStage
from core.providers.embeddings import Embedder, create_embedder
from core.settings import Settings
from core.tracing import get_tracer
from core.vectors import active_models, promote_if_built
from ingestion.artifacts import OWNED_TYPES, TRANSCRIPTION_TYPES, load_artifact
from ingestion.batching import BatchingEmbedder
from ingestion.dispatcher import INGEST_JOB
from ingestion.indexer import delete_chunks, delete_meeting_chunks, replace_chunks

log = logging.getLogger("v1tr0.ingestion")

ERROR_LIMIT = 2000


@dataclass
class Runtime:
    """What jobs share inside one worker process."""

    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    redis: ArqRedis
    embedders: dict[str, Embedder] = field(default_factory=dict)

    def embedder(self, name: str) -> Embedder:
        if name not in self.embedders:
            self.embedders[name] = BatchingEmbedder(
                create_embedder(self.settings, name=name), max_batch=self.settings.embedding.batch_size
            )
        return self.embedders[name]


def _source_lock_key(source_type: SourceType, source_id: uuid.UUID) -> int:
    return (uuid.uuid5(source_id, source_type.value).int & ((1 << 63) - 1)) or 1


async def _lock_source(
    session: AsyncSession, source_type: SourceType, source_id: uuid.UUID, statement_timeout_ms: int
) -> None:
    """Jobs of one artifact run one at a time. A transcription's jobs also hold its meeting's lock: the
    meeting's deletion job removes the transcription's chunks, so it must not run while they are written
    (it would finish first and leave the new chunks behind).

    Waiting for the lock is waiting for the other job (which may be embedding a long document for
    minutes), not a slow statement: the wait is bounded by the job's own timeout, and the statement
    timeout comes back for what follows."""
    keys = [_source_lock_key(source_type, source_id)]
    if source_type in TRANSCRIPTION_TYPES:
        meeting_id = await session.scalar(
            sa.select(Transcription.meeting_id).where(Transcription.id == source_id)
        )
        if meeting_id is not None:
            keys.append(_source_lock_key(SourceType.MEETING, meeting_id))
    await session.execute(sa.select(sa.func.set_config("statement_timeout", "0", True)))
    for key in keys:  # always the artifact first, then its meeting: no lock cycles
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
    await session.execute(sa.select(sa.func.set_config("statement_timeout", str(statement_timeout_ms), True)))


async def outbox_trace_context(runtime: Runtime, outbox_id: int) -> str | None:
    """The trace context stored with the row by the request that recorded it, for the job's span to
    continue. Read only when tracing is on."""
    if get_tracer() is None:
        return None
    async with runtime.sessionmaker() as session:
        stored: str | None = await session.scalar(
            sa.select(Outbox.trace_context).where(Outbox.id == outbox_id)
        )
    return stored


async def process_outbox_row(runtime: Runtime, outbox_id: int) -> str:
    """Apply the row; on failure record the error and schedule a retry (or dead-letter it)."""
    try:
        async with runtime.sessionmaker() as session, session.begin():
            result = await _apply(session, runtime, outbox_id)
    except Exception as exc:
        log.exception("ingestion failed", extra={"outbox_id": outbox_id})
        await _record_failure(runtime, outbox_id, exc)
        return "failed"
    for model_name, count in result.pop("embedded_by_model", {}).items():
        record_embedded(model_name, count)
    project_id = result.pop("project_id", None)
    meeting_id = result.pop("meeting_id", None)
    if meeting_id:
        try:
            await publish_meeting(runtime.redis, meeting_id, "indexed", chunks=result.get("chunks", 0))
        except Exception:
            log.warning("could not publish the indexed event", exc_info=True)
    if project_id and meeting_id:
        chunks = result.get("chunks", 0)
        await feed.publish(
            runtime.redis, project_id, FeedEvent.TRANSCRIPTION_INDEXED, meeting_id=meeting_id, chunks=chunks
        )
    if project_id:
        await _publish_indexed(runtime, project_id, result)
        try:  # cached insights of the project are now stale
            await runtime.redis.incr(keys.index_generation(project_id))
        except Exception:
            log.warning("could not bump the index generation", exc_info=True)
    if result.get("switch_model"):
        await _finish_model_switch(runtime, result["switch_model"])
    return str(result.get("status", "done"))


async def _publish_indexed(runtime: Runtime, project_id: Any, result: dict[str, Any]) -> None:
    """Announce an indexed change on the project's feed, unless it is a chat turn: those are their
    author's alone, and the feed is every member's."""
    if result.get("status") != "done" or result.get("source_type") == SourceType.CHAT.value:
        return
    fields = ("outbox_id", "source_type", "source_id", "action", "chunks", "embedded")
    await feed.publish(
        runtime.redis, project_id, FeedEvent.INDEX_INDEXED, **{name: result[name] for name in fields}
    )


async def _apply(session: AsyncSession, runtime: Runtime, outbox_id: int) -> dict[str, Any]:
    # The artifact's lock first, then the row's: a job of the same artifact that holds the first marks
    # older pending rows superseded, so waiting for it while holding this row would deadlock. The row's
    # artifact never changes, so reading it unlocked is enough to know which lock to take.
    row = await session.get(Outbox, outbox_id)
    if row is None or row.status in (OutboxStatus.DONE, OutboxStatus.FAILED):
        return {"status": "skipped"}
    await _lock_source(session, row.source_type, row.source_id, runtime.settings.db.statement_timeout_ms)
    row = await session.get(Outbox, outbox_id, with_for_update=True, populate_existing=True)
    if row is None or row.status in (OutboxStatus.DONE, OutboxStatus.FAILED):
        return {"status": "skipped"}
    request_id_var.set(row.request_id)
    owned = OWNED_TYPES[row.source_type]
    chunks = embedded = 0
    embedded_by_model: dict[str, int] = {}
    project_id = row.project_id
    artifact = None
    if row.action == OutboxAction.UPSERT:
        artifact = await load_artifact(session, row.source_type, row.source_id, runtime.settings.ingestion)
    if artifact is None:
        # Deleted (or gone before we got to it): its chunks leave the index for every model.
        if row.source_type == SourceType.MEETING:
            await delete_meeting_chunks(session, meeting_id=row.source_id)
        else:
            await delete_chunks(session, source_id=row.source_id, source_types=owned)
    else:
        project_id = artifact.project_id
        models = (
            [row.embedding_model]
            if row.embedding_model
            else [model.name for model in await active_models(session)]
        )
        if not models:
            raise RuntimeError("no embedding model is registered; start a worker first")
        for name in models:
            drafts = [draft for draft in artifact.drafts if draft.source_type in owned]
            count, new = await replace_chunks(
                session,
                embedder=runtime.embedder(name),
                project_id=artifact.project_id,
                source_id=row.source_id,
                source_types=owned,
                drafts=drafts,
            )
            chunks, embedded = chunks + count, embedded + new
            embedded_by_model[name] = embedded_by_model.get(name, 0) + new
    meeting_id = None
    if artifact is not None and row.source_type == SourceType.TRANSCRIPT:
        transcription = await session.get(Transcription, row.source_id)
        if transcription is not None:
            transcription.stage = TranscriptionStage.INDEXED
            meeting_id = str(transcription.meeting_id)
    now = datetime.now(UTC)
    row.status, row.processed_at, row.attempts, row.last_error = (
        OutboxStatus.DONE,
        now,
        row.attempts + 1,
        None,
    )
    # Older pending rows of the same artifact are covered by this run, which read its latest state.
    await session.execute(
        sa.update(Outbox)
        .where(
            Outbox.source_type == row.source_type,
            Outbox.source_id == row.source_id,
            Outbox.status == OutboxStatus.PENDING,
            Outbox.id < row.id,
            Outbox.embedding_model.is_not_distinct_from(row.embedding_model),
        )
        .values(status=OutboxStatus.DONE, processed_at=now, last_error="superseded by a later change")
    )
    return {
        "status": "done",
        "project_id": str(project_id) if project_id else None,
        "outbox_id": row.id,
        "source_type": row.source_type.value,
        "source_id": str(row.source_id),
        "action": row.action.value,
        "chunks": chunks,
        "embedded": embedded,
        "embedded_by_model": embedded_by_model,
        "switch_model": row.embedding_model,
        "meeting_id": meeting_id,
    }


def failure_message(exc: Exception) -> str:
    """What the index status shows of a failure: the error's type and first line. A database error's
    further lines hold the SQL and its parameters (the chunk texts): those stay in the log."""
    first_line = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first_line}"[:ERROR_LIMIT]


# Recording a failure may itself fail while the database recovers (a crashed backend restarts every
# connection for a few seconds): try for about this long before leaving the row to the stale-job sweep.
RECORD_ATTEMPTS = 6
RECORD_BACKOFF = 0.5


async def _record_failure(runtime: Runtime, outbox_id: int, exc: Exception) -> None:
    message = failure_message(exc)
    recorded: tuple[Any, OutboxStatus, int] | None = None
    for attempt in range(RECORD_ATTEMPTS):
        try:
            recorded = await _mark_failed(runtime, outbox_id, message)
            break
        except Exception:
            if attempt == RECORD_ATTEMPTS - 1:
                log.exception("could not record the failure", extra={"outbox_id": outbox_id})
            else:
                await asyncio.sleep(RECORD_BACKOFF * 2**attempt)
    project_id, status, attempts = recorded if recorded else (None, OutboxStatus.PENDING, 0)
    await note_failure(
        runtime.redis,
        job=INGEST_JOB,
        error=message,
        outbox_id=outbox_id,
        project_id=str(project_id) if project_id else None,
        attempts=attempts,
        dead_lettered=status == OutboxStatus.FAILED,
    )
    if project_id:
        event = FeedEvent.INDEX_FAILED if status == OutboxStatus.FAILED else FeedEvent.INDEX_RETRYING
        await feed.publish(
            runtime.redis, project_id, event, outbox_id=outbox_id, error=message, attempts=attempts
        )


async def _mark_failed(
    runtime: Runtime, outbox_id: int, message: str
) -> tuple[Any, OutboxStatus, int] | None:
    """Count the attempt and schedule the next one with backoff, or dead-letter the row after the last."""
    config = runtime.settings.ingestion
    async with runtime.sessionmaker() as session, session.begin():
        row = await session.get(Outbox, outbox_id, with_for_update=True)
        if row is None or row.status == OutboxStatus.DONE:
            return None
        row.attempts += 1
        row.last_error = message
        row.dispatches += 1
        row.enqueued_at = None
        if row.attempts >= config.max_attempts:
            row.status = OutboxStatus.FAILED
        else:
            delay = min(config.retry_backoff * 2 ** (row.attempts - 1), 600.0)
            row.available_at = datetime.now(UTC) + timedelta(seconds=delay)
        return row.project_id, row.status, row.attempts


async def _finish_model_switch(runtime: Runtime, name: str) -> None:
    """When every row of a model rebuild is done, the new model serves and the old one's chunks go."""
    async with runtime.sessionmaker() as session, session.begin():
        switched = await promote_if_built(session, name)
    if switched:
        log.info("embedding model switched", extra={"model": name})
