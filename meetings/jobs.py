"""The meetings' part of the worker: the transcription job, its runtime (created at start-up), and the
sweeps that re-enqueue transcriptions whose worker died and announce commitments falling due."""

from __future__ import annotations

import time
import uuid
from typing import Any

from arq.worker import func

from core.metrics import time_job
from core.tracing import job_span, record_outcome
from ingestion.jobs import Runtime
from ingestion.worker import WorkerPlugin
from meetings.pipeline import TRANSCRIBE_JOB, MeetingRuntime, process_transcription, requeue_stale
from meetings.reminders import SWEEP_INTERVAL, announce_due_commitments

JOB_TIMEOUT = 6 * 3600  # hours of audio on a small CPU


async def process_transcription_job(
    ctx: dict[str, Any], transcription_id: str, summary_only: bool = False, traceparent: str | None = None
) -> str:
    meetings: MeetingRuntime = ctx["meetings"]
    with (
        job_span(
            TRANSCRIBE_JOB,
            job_id=ctx.get("job_id"),
            traceparent=traceparent,
            attributes={"v1tr0.transcription_id": transcription_id, "v1tr0.summary_only": summary_only},
        ) as span,
        time_job(TRANSCRIBE_JOB) as outcome,
    ):
        status = await process_transcription(meetings, uuid.UUID(transcription_id), summary_only)
        outcome["outcome"] = status
        record_outcome(span, status)
    return status


async def _startup(ctx: dict[str, Any]) -> None:
    runtime: Runtime = ctx["runtime"]
    ctx["meetings"] = MeetingRuntime(runtime.settings, runtime.sessionmaker, runtime.redis)


async def _sweep(ctx: dict[str, Any]) -> None:
    runtime: Runtime = ctx["runtime"]
    await requeue_stale(
        runtime.sessionmaker,
        runtime.redis,
        stale_after=runtime.settings.ingestion.requeue_after,
        max_attempts=runtime.settings.ingestion.max_attempts,
    )
    if time.monotonic() >= ctx.get("next_reminders", 0.0):
        ctx["next_reminders"] = time.monotonic() + SWEEP_INTERVAL  # a failing sweep waits too
        await announce_due_commitments(
            runtime.sessionmaker, runtime.redis, due_soon_days=runtime.settings.feed.due_soon_days
        )


def plugin() -> WorkerPlugin:
    return WorkerPlugin(
        name="meetings",
        functions=[func(process_transcription_job, name=TRANSCRIBE_JOB, max_tries=1, timeout=JOB_TIMEOUT)],
        startup=_startup,
        sweep=_sweep,
    )
