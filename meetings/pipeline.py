"""The transcription pipeline, a worker job: audio -> segments -> structured summary -> commitment ledger
-> index (the outbox row it records).

Jobs take a transcription id and re-read everything. Each stage is saved as it completes, so a job that
dies (worker killed) is re-enqueued by the worker's sweep and redoes only what was not saved; after
`max_attempts` it is marked failed with the reason, never left "processing"."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import feed
from core.events import note_failure, publish_meeting
from core.feed import FeedEvent
from core.models import Meeting, ProcessingStatus, SourceType, Transcription, TranscriptionStage
from core.outbox import record_change
from core.providers.llm import ChatModel, StructuredOutputFailed, create_task_model
from core.providers.stt import Transcriber, create_transcriber
from core.settings import Settings
from core.tracing import current_traceparent
from meetings.ledger import LedgerChanges, commitment_brief, sync_ledger
from meetings.schemas import MeetingTranscript
from meetings.tasks import MeetingTasks, commitment_source, meeting_tasks
from prompts.loader import default_library

log = logging.getLogger("v1tr0.transcription")

TRANSCRIBE_JOB = "process_transcription"
PROGRESS_EVERY = 0.05


def transcription_job_id(transcription_id: uuid.UUID, attempts: int, summary_only: bool = False) -> str:
    return f"{'summary' if summary_only else 'transcription'}:{transcription_id}:{attempts}"


async def enqueue_transcription(
    redis: ArqRedis, transcription_id: uuid.UUID, *, attempts: int, summary_only: bool = False
) -> None:
    # The job's span continues the trace of the request (or retry) behind it. A keyword, and only when
    # traced, so a worker still on the previous version (two arguments) runs the job during a deploy.
    traceparent = current_traceparent()
    job_id = transcription_job_id(transcription_id, attempts, summary_only)
    if traceparent:
        await redis.enqueue_job(
            TRANSCRIBE_JOB, str(transcription_id), summary_only, _job_id=job_id, traceparent=traceparent
        )
    else:
        await redis.enqueue_job(TRANSCRIBE_JOB, str(transcription_id), summary_only, _job_id=job_id)


class MeetingRuntime:
    """What meeting jobs share in one worker: the transcriber and the meeting tasks, created on first use
    (a worker that never sees a meeting never loads Whisper)."""

    def __init__(
        self,
        settings: Settings,
        sessionmaker: async_sessionmaker[AsyncSession],
        redis: ArqRedis,
        *,
        transcriber: Transcriber | None = None,
        chat_model: ChatModel | None = None,
    ) -> None:
        self.settings = settings
        self.sessionmaker = sessionmaker
        self.redis = redis
        self._transcriber = transcriber
        self._chat = chat_model
        self._tasks: MeetingTasks | None = None

    @property
    def heartbeat_interval(self) -> float:
        """Often enough that the sweep (`requeue_after`) never takes a live job for a dead one."""
        return max(min(self.settings.ingestion.requeue_after / 4, 30.0), 0.1)

    @property
    def transcriber(self) -> Transcriber:
        if self._transcriber is None:
            self._transcriber = create_transcriber(self.settings)
        return self._transcriber

    @property
    def tasks(self) -> MeetingTasks:
        if self._tasks is None:
            model = self._chat if self._chat is not None else create_task_model(self.settings)
            source = commitment_source(self.settings, model)
            self._tasks = meeting_tasks(model, default_library(), commitments=source)
        return self._tasks


# A stage on the meeting's own channel -> its name in the project's feed.
FEED_EVENTS = {
    "transcribing": FeedEvent.TRANSCRIPTION_TRANSCRIBING,
    "summarising": FeedEvent.TRANSCRIPTION_SUMMARISING,
    "summarised": FeedEvent.SUMMARY_READY,
    "failed": FeedEvent.TRANSCRIPTION_FAILED,
}


async def _announce(
    redis: ArqRedis, meeting_id: uuid.UUID, project_id: uuid.UUID, event: str, **data: Any
) -> None:
    """A stage on the meeting's channel and in the project's feed; best effort, both."""
    try:
        await publish_meeting(redis, meeting_id, event, **data)
    except Exception:
        log.warning("could not publish %s", event, exc_info=True)
    await feed.publish(redis, project_id, FEED_EVENTS[event], meeting_id=str(meeting_id), **data)


async def _event(
    runtime: MeetingRuntime, meeting_id: uuid.UUID, project_id: uuid.UUID, event: str, **data: Any
) -> None:
    await _announce(runtime.redis, meeting_id, project_id, event, **data)


async def _update(runtime: MeetingRuntime, transcription_id: uuid.UUID, **values: Any) -> None:
    async with runtime.sessionmaker() as session, session.begin():
        await session.execute(
            sa.update(Transcription).where(Transcription.id == transcription_id).values(**values)
        )


async def _heartbeat(runtime: MeetingRuntime, transcription_id: uuid.UUID) -> None:
    """Keep `updated_at` fresh while the job runs: a row that stops changing belongs to a dead worker."""
    while True:
        await asyncio.sleep(runtime.heartbeat_interval)
        try:
            async with runtime.sessionmaker() as session, session.begin():
                await session.execute(
                    sa.update(Transcription)
                    .where(
                        Transcription.id == transcription_id,
                        Transcription.processing_status == ProcessingStatus.PROCESSING,
                    )
                    .values(updated_at=sa.func.now())
                )
        except asyncio.CancelledError:
            raise
        except Exception:
            log.warning("transcription heartbeat failed; will retry", exc_info=True)


async def process_transcription(
    runtime: MeetingRuntime, transcription_id: uuid.UUID, summary_only: bool
) -> str:
    async with runtime.sessionmaker() as session, session.begin():
        row = await session.get(Transcription, transcription_id, with_for_update=True)
        if row is None:
            return "gone"
        if row.processing_status not in (ProcessingStatus.PENDING, ProcessingStatus.PROCESSING):
            return "skipped"
        meeting = await session.get(Meeting, row.meeting_id)
        if meeting is None:
            return "gone"
        row.processing_status = ProcessingStatus.PROCESSING
        row.attempts += 1
        meeting_id, project_id = meeting.id, meeting.project_id
        meeting_title = meeting.title
        meeting_date = (meeting.start_time or row.created_at).date()
        needs_audio = not summary_only and not row.segments and row.audio_path is not None
        audio_path = Path(row.audio_path) if row.audio_path else None
        language = row.language
    heartbeat = asyncio.create_task(_heartbeat(runtime, transcription_id))
    try:
        if needs_audio:
            assert audio_path is not None
            await _transcribe(runtime, transcription_id, meeting_id, project_id, audio_path, language)
        await _summarize(runtime, transcription_id, meeting_id, project_id, meeting_title, meeting_date)
    except asyncio.CancelledError:
        raise  # worker shutting down: the sweep re-enqueues it
    except Exception as exc:
        reason = exc.args[0] if isinstance(exc, StructuredOutputFailed) else f"{type(exc).__name__}: {exc}"
        log.exception("transcription failed", extra={"transcription_id": str(transcription_id)})
        await _update(
            runtime,
            transcription_id,
            processing_status=ProcessingStatus.FAILED,
            stage=TranscriptionStage.FAILED,
            error=str(reason)[:2000],
        )
        await _event(
            runtime,
            meeting_id,
            project_id,
            "failed",
            transcription_id=str(transcription_id),
            reason=str(reason),
        )
        await note_failure(
            runtime.redis,
            job=TRANSCRIBE_JOB,
            error=str(reason)[:500],
            transcription_id=str(transcription_id),
            project_id=str(project_id),
        )
        return "failed"
    finally:
        heartbeat.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heartbeat
    return "completed"


async def _transcribe(
    runtime: MeetingRuntime,
    transcription_id: uuid.UUID,
    meeting_id: uuid.UUID,
    project_id: uuid.UUID,
    path: Path,
    language: str | None,
) -> None:
    await _update(runtime, transcription_id, stage=TranscriptionStage.TRANSCRIBING, progress=0)
    await _event(
        runtime, meeting_id, project_id, "transcribing", transcription_id=str(transcription_id), percent=0
    )
    loop = asyncio.get_running_loop()
    reported = {"fraction": 0.0}
    pending: list[concurrent.futures.Future[None]] = []
    # One update at a time, in the order reported: two in flight would race (100 % announced before 50 %,
    # or 50 % stored over 99 %). The lock is FIFO and the updates start in the order they were scheduled.
    in_order = asyncio.Lock()

    async def report(percent: int) -> None:
        async with in_order:
            await _progress(runtime, transcription_id, meeting_id, project_id, percent)

    def progress(fraction: float) -> None:
        if fraction - reported["fraction"] >= PROGRESS_EVERY or fraction >= 1.0:
            reported["fraction"] = fraction
            pending.append(asyncio.run_coroutine_threadsafe(report(int(fraction * 100)), loop))

    try:
        result = await runtime.transcriber.transcribe(path, language=language, progress=progress)
    finally:
        # Progress updates still in flight land before the next stage's, so events stay in order.
        await asyncio.gather(*(asyncio.wrap_future(future) for future in pending), return_exceptions=True)
    await _update(
        runtime,
        transcription_id,
        segments=result.segments,
        transcript_text="\n".join(segment["text"] for segment in result.segments),
        language=result.language,
        duration_seconds=result.duration,
        confidence_score=result.confidence,
        provider=result.provider,
        model=result.model,
        progress=100,
    )


async def _progress(
    runtime: MeetingRuntime,
    transcription_id: uuid.UUID,
    meeting_id: uuid.UUID,
    project_id: uuid.UUID,
    percent: int,
) -> None:
    await _update(runtime, transcription_id, progress=min(percent, 99))  # also the job's heartbeat
    await _event(
        runtime,
        meeting_id,
        project_id,
        "transcribing",
        transcription_id=str(transcription_id),
        percent=percent,
    )


async def _summarize(
    runtime: MeetingRuntime,
    transcription_id: uuid.UUID,
    meeting_id: uuid.UUID,
    project_id: uuid.UUID,
    meeting_title: str,
    meeting_date: Any,
) -> None:
    await _update(runtime, transcription_id, stage=TranscriptionStage.SUMMARISING)
    await _event(runtime, meeting_id, project_id, "summarising", transcription_id=str(transcription_id))
    async with runtime.sessionmaker() as session:
        segments = list(
            (await session.get(Transcription, transcription_id) or Transcription()).segments or []
        )
    tasks = runtime.tasks
    summarizer, prompt = tasks.summarizer, tasks.prompt
    summary = await summarizer.summarize(MeetingTranscript(segments, meeting_title, meeting_date))
    async with runtime.sessionmaker() as session, session.begin():
        row = await session.get(Transcription, transcription_id, with_for_update=True)
        if row is None:
            return
        dumped = summary.model_dump(mode="json")
        row.summary = summary.summary
        row.key_points = dumped["key_points"]
        row.decisions = dumped["decisions"]
        row.commitments = dumped["commitments"]
        row.next_steps = dumped["next_steps"]
        row.prompt_name, row.prompt_version = prompt.name, prompt.version
        if not row.provider:
            row.provider, row.model = "import", row.source_kind
        row.summary_provider, row.summary_model = summarizer.provider, summarizer.model
        ledger = await sync_ledger(
            session,
            transcription=row,
            project_id=project_id,
            summary=summary,
            segments=segments,
            meeting_date=meeting_date,
        )
        row.processing_status = ProcessingStatus.COMPLETED
        row.stage = TranscriptionStage.INDEXING
        row.progress = 100
        # Completed, but what did not go as asked (the patterns standing in for the model) is said here.
        row.error = "; ".join(summary.problems)[:2000] or None
        await record_change(
            session, project_id=project_id, source_type=SourceType.TRANSCRIPT, source_id=row.id
        )
    await _event(
        runtime,
        meeting_id,
        project_id,
        "summarised",
        transcription_id=str(transcription_id),
        **ledger.counts(),
    )
    await _announce_ledger(runtime.redis, project_id, ledger)


async def _announce_ledger(redis: ArqRedis, project_id: uuid.UUID, ledger: LedgerChanges) -> None:
    for event, rows in (
        (FeedEvent.COMMITMENT_CREATED, ledger.created),
        (FeedEvent.COMMITMENT_CLOSED, ledger.closed),
        (FeedEvent.COMMITMENT_MOVED, ledger.rescheduled),
    ):
        for row in rows:
            moved = (
                {"moved_from": (row.evidence or {}).get("moved_from")}
                if event == FeedEvent.COMMITMENT_MOVED
                else {}
            )
            await feed.publish(redis, project_id, event, **commitment_brief(row), **moved)


async def _projects_of(session: AsyncSession, meeting_ids: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    if not meeting_ids:
        return {}
    query = sa.select(Meeting.id, Meeting.project_id).where(Meeting.id.in_(meeting_ids))
    return dict((await session.execute(query)).tuples().all())


async def requeue_stale(
    sessionmaker: async_sessionmaker[AsyncSession], redis: ArqRedis, *, stale_after: float, max_attempts: int
) -> int:
    """Transcriptions stuck pending/processing (their worker died) go again, or fail after max_attempts."""
    cutoff = datetime.now(UTC) - timedelta(seconds=stale_after)
    async with sessionmaker() as session, session.begin():
        rows = (
            await session.scalars(
                sa.select(Transcription)
                .where(
                    Transcription.processing_status.in_(
                        [ProcessingStatus.PENDING, ProcessingStatus.PROCESSING]
                    ),
                    Transcription.updated_at < cutoff,
                )
                .with_for_update(skip_locked=True)
            )
        ).all()
        failed: list[tuple[uuid.UUID, uuid.UUID, str]] = []
        for row in rows:
            if row.attempts >= max_attempts:
                row.processing_status = ProcessingStatus.FAILED
                row.stage = TranscriptionStage.FAILED
                row.error = f"gave up after {row.attempts} attempts (the worker stopped while processing)"
                failed.append((row.meeting_id, row.id, row.error))
                continue
            row.updated_at = datetime.now(UTC)
            await enqueue_transcription(
                redis, row.id, attempts=row.attempts, summary_only=row.stage == TranscriptionStage.SUMMARISING
            )
        projects = await _projects_of(session, [meeting_id for meeting_id, _, _ in failed])
    for meeting_id, transcription_id, reason in failed:
        await _announce(
            redis,
            meeting_id,
            projects[meeting_id],
            "failed",
            transcription_id=str(transcription_id),
            reason=reason,
        )
    return len(rows)
