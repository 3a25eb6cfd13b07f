"""A meeting's transcription progress on Redis pub/sub, for its SSE endpoint to relay; and the worker's
log of recent job failures that /health/ready reports. (What changes in a project, for the dashboard:
core/feed.py.)"""

from __future__ import annotations

import json
import logging
import time
import uuid
from typing import Any

from redis.asyncio import Redis

from core import keys


def meeting_channel(meeting_id: uuid.UUID | str) -> str:
    return keys.meeting_events(meeting_id)


async def publish_meeting(redis: Redis, meeting_id: uuid.UUID | str, event: str, **data: Any) -> None:
    """Transcription progress for the meeting's SSE endpoint: queued, transcribing, summarising, indexed,
    failed."""
    payload = {"event": event, "meeting_id": str(meeting_id), "ts": time.time(), **data}
    await redis.publish(meeting_channel(meeting_id), json.dumps(payload, default=str))


FAILURES_KEPT = 100


async def note_failure(redis: Redis, *, job: str, error: str, **context: Any) -> None:
    """Remember a failed job for /health/ready (the newest FAILURES_KEPT). Best effort: the failure is
    recorded where users see it (the outbox row, the transcription) by the caller."""
    entry = json.dumps({"ts": time.time(), "job": job, "error": error, **context}, default=str)
    try:
        async with redis.pipeline(transaction=False) as pipe:
            pipe.lpush(keys.WORKER_FAILURES, entry)
            pipe.ltrim(keys.WORKER_FAILURES, 0, FAILURES_KEPT - 1)
            await pipe.execute()
    except Exception:  # Redis down: the job's own record stays the truth
        logging.getLogger("v1tr0.events").warning("could not note the job failure", exc_info=True)


async def recent_failures(redis: Redis, *, since: float) -> list[dict[str, Any]]:
    """Failures noted after `since` (Unix time), newest first."""
    raw_entries: list[bytes] = await redis.lrange(keys.WORKER_FAILURES, 0, FAILURES_KEPT - 1)  # type: ignore[misc]
    entries = [json.loads(raw) for raw in raw_entries]
    return [entry for entry in entries if entry.get("ts", 0) >= since]
