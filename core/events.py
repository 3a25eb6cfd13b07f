"""Job progress events on Redis pub/sub, per project, for SSE endpoints to relay."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from redis.asyncio import Redis


def project_channel(project_id: uuid.UUID | str) -> str:
    return f"v1tr0:events:project:{project_id}"


async def publish(redis: Redis, project_id: uuid.UUID | str, event: str, **data: Any) -> None:
    payload = {"event": event, "project_id": str(project_id), "ts": time.time(), **data}
    await redis.publish(project_channel(project_id), json.dumps(payload, default=str))


def meeting_channel(meeting_id: uuid.UUID | str) -> str:
    return f"v1tr0:events:meeting:{meeting_id}"


async def publish_meeting(redis: Redis, meeting_id: uuid.UUID | str, event: str, **data: Any) -> None:
    """Transcription progress for the meeting's SSE endpoint: queued, transcribing, summarising, indexed,
    failed."""
    payload = {"event": event, "meeting_id": str(meeting_id), "ts": time.time(), **data}
    await redis.publish(meeting_channel(meeting_id), json.dumps(payload, default=str))
