"""The dashboard's event feed: what changed in each project (indexing, transcription stages, summaries,
commitments, insights, documents), kept in Redis Streams so that a client that reconnects with
`Last-Event-ID` gets what it missed.

Every event is written, by one atomic script, to its project's stream and to the stream of all projects,
under an id from one clock shared by every stream (`<ms>-<n>` like Redis' own ids, but increasing across
all of them). One id is then a position in any set of streams: a client following several projects
resumes all of them from the last id it received, and a project added to its set later is read from there
too. A reader that sees an id has also seen every smaller one, in every stream: the script that wrote a
smaller id finished before the one that wrote it began.

Streams keep their newest PROJECT_MAXLEN / ALL_MAXLEN events and expire TTL seconds after their last one.
Publishing is best effort, like every event here: the stored state is the truth, an event saves a poll,
and an event that cannot be written never fails the operation that produced it.
"""

from __future__ import annotations

import enum
import json
import logging
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core import keys
from core.errors import Invalid
from core.outbox import after_commit

log = logging.getLogger("v1tr0.feed")

PROJECT_MAXLEN = 1000  # newest events kept per project (about; XADD trims whole nodes)
ALL_MAXLEN = 20_000  # newest events kept of all projects
TTL = 7 * 86_400  # a stream with no new event for this long is dropped
START = "0-0"  # before every event
CURSOR = re.compile(r"^\d{1,15}-\d{1,10}$")


class FeedEvent(enum.StrEnum):
    """What happened; the SSE event name."""

    INDEX_INDEXED = "index.indexed"
    INDEX_RETRYING = "index.retrying"
    INDEX_FAILED = "index.failed"
    TRANSCRIPTION_QUEUED = "transcription.queued"
    TRANSCRIPTION_TRANSCRIBING = "transcription.transcribing"
    TRANSCRIPTION_SUMMARISING = "transcription.summarising"
    TRANSCRIPTION_INDEXED = "transcription.indexed"
    TRANSCRIPTION_FAILED = "transcription.failed"
    SUMMARY_READY = "summary.ready"
    COMMITMENT_CREATED = "commitment.created"
    COMMITMENT_CLOSED = "commitment.closed"
    COMMITMENT_REOPENED = "commitment.reopened"
    COMMITMENT_MOVED = "commitment.moved"
    COMMITMENT_DUE_SOON = "commitment.due_soon"
    COMMITMENT_OVERDUE = "commitment.overdue"
    INSIGHTS_REFRESHED = "insights.refreshed"
    DOCUMENT_CONVERTED = "document.converted"


# KEYS: the clock, the project's stream, the stream of all projects.
# ARGV: project maxlen, all maxlen, ttl, kind, project id, data.
# The id is the clock's next value: the server's time in ms, or the last id's ms with the next sequence
# number when the time has not moved past it. TIME before writes is allowed: scripts replicate effects.
_APPEND = """
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local seq = 0
local last = redis.call('GET', KEYS[1])
if last then
  local dash = string.find(last, '-', 1, true)
  local last_ms = tonumber(string.sub(last, 1, dash - 1))
  if ms <= last_ms then
    ms = last_ms
    seq = tonumber(string.sub(last, dash + 1)) + 1
  end
end
local id = string.format('%.0f-%d', ms, seq)
redis.call('SET', KEYS[1], id)
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[1], id, 'k', ARGV[4], 'p', ARGV[5], 'd', ARGV[6])
redis.call('EXPIRE', KEYS[2], ARGV[3])
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[2], id, 'k', ARGV[4], 'p', ARGV[5], 'd', ARGV[6])
redis.call('EXPIRE', KEYS[3], ARGV[3])
return id
"""


async def append(redis: Redis, project_id: uuid.UUID | str, kind: FeedEvent, **data: Any) -> str:
    """Write one event; returns its id. Raises on a Redis error (see `publish` for the best-effort way)."""
    payload = json.dumps({"project_id": str(project_id), "ts": time.time(), **data}, default=str)
    written = await redis.eval(  # type: ignore[misc]
        _APPEND,
        3,
        keys.FEED_CLOCK,
        keys.project_feed(project_id),
        keys.FEED_ALL,
        str(PROJECT_MAXLEN),
        str(ALL_MAXLEN),
        str(TTL),
        kind.value,
        str(project_id),
        payload,
    )
    return _text(written)


async def publish(redis: Redis, project_id: uuid.UUID | str, kind: FeedEvent, **data: Any) -> None:
    """Write one event, best effort: a Redis error is logged, never raised."""
    try:
        await append(redis, project_id, kind, **data)
    except Exception:
        log.warning("could not publish the %s event", kind.value, exc_info=True)


def publish_after_commit(
    session: AsyncSession, redis: Redis, project_id: uuid.UUID, kind: FeedEvent, **data: Any
) -> None:
    """Publish once the caller's transaction commits (a client that reads on the event sees the change);
    nothing when it rolls back."""

    async def send() -> None:
        await publish(redis, project_id, kind, **data)

    after_commit(session, send)


# --- reading ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FeedEntry:
    id: str
    kind: str
    project_id: str
    data: str  # JSON: {"project_id", "ts", ...}

    @property
    def order(self) -> tuple[int, int]:
        return position(self.id)


def position(entry_id: str) -> tuple[int, int]:
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


def parse_cursor(value: str) -> str:
    """A client's `Last-Event-ID`, checked (Invalid otherwise)."""
    if not CURSOR.match(value):
        raise Invalid("Last-Event-ID is not an id of this feed", code="invalid_last_event_id")
    return value


async def current_cursor(redis: Redis) -> str:
    """The id of the newest event of any project: reading from it gives only what comes next."""
    last = await redis.get(keys.FEED_CLOCK)
    return _text(last) if last else START


async def read(
    redis: Redis, streams: Sequence[str], cursor: str, *, count: int, block_ms: int | None
) -> list[FeedEntry]:
    """The events after `cursor` in these streams, oldest first, at most `count` per stream (waiting up
    to `block_ms` for one). When a stream returns `count` events, it may have more older than another
    stream's newest: events after its last one wait for the next read, so that none is ever skipped."""
    if not streams:
        return []
    reply = await redis.xread(dict.fromkeys(streams, cursor), count=count, block=block_ms)
    entries: list[FeedEntry] = []
    bound: tuple[int, int] | None = None
    for _key, items in reply or []:
        if len(items) >= count:
            last = position(_text(items[-1][0]))
            bound = last if bound is None else min(bound, last)
        for entry_id, fields in items:
            entries.append(
                FeedEntry(_text(entry_id), _text(fields[b"k"]), _text(fields[b"p"]), _text(fields[b"d"]))
            )
    entries.sort(key=lambda entry: entry.order)
    if bound is not None:
        entries = [entry for entry in entries if entry.order <= bound]
    return entries


async def missed_since(redis: Redis, streams: dict[str, int], cursor: str) -> bool:
    """Whether some events after `cursor` may be gone from these streams (key: its maxlen): the cursor is
    older than the streams live, or a stream was trimmed past it."""
    if cursor == START:
        return False
    after = position(cursor)
    if after[0] < (time.time() - TTL) * 1000:
        return True
    async with redis.pipeline(transaction=False) as pipe:
        for key in streams:
            pipe.xrange(key, count=1)
            pipe.xlen(key)
        replies = await pipe.execute()
    for (key, maxlen), first, length in zip(streams.items(), replies[::2], replies[1::2], strict=True):
        if first and position(_text(first[0][0])) > after and length >= maxlen:
            log.debug("feed %s trimmed past %s", key, cursor)
            return True
    return False


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
