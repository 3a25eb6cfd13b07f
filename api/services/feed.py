"""The event feed as users read it (core/feed.py writes it): one project's events, or those of every
project the caller may see, as Server-Sent Events, resumable with `Last-Event-ID`.

Scoped exactly like the data: an event goes out only if the caller may see its project when it is sent
(api.access.visible_among, one statement per batch of events), so access lost mid-stream hides what
follows; a project feed then ends with an `error` event (its reconnection gets the 404). Every
REFRESH_SECONDS the stream also re-reads the caller's projects (the all-projects feed picks up projects
joined since; a disabled user's stream ends).

Which streams the all-projects feed reads is a measured choice (bench/feed.py, docs/events.md). One XREAD
over the streams of the k visible projects wakes only for their events but costs ~0.2 ms + ~5 µs per
stream for each; the stream of all projects is one key but wakes for every project's event, ~0.22 ms
each, filtered here. With P projects publishing alike the per-project streams are cheaper while
P > k·(0.2 + 0.005·k)/0.22, measured at P ≈ k²/20 to k²/40 for k ≥ 50 (k = 100: 510; k = 500: 6,100):
the reader takes them while k² ≤ 30·P, and the stream of all projects above (an admin of a system with
more than 32 projects)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession

from api.access import allowed_project_ids, count_all_projects, require_project, visible_among
from api.resources import Resources
from core import feed, keys
from core.models import User

log = logging.getLogger("v1tr0.feed")

BLOCK_MS = 2000  # one XREAD's wait, well under the Redis client's 5 s socket timeout
BATCH = 100  # events per stream per read
REFRESH_SECONDS = 10.0
ALL_STREAM_FACTOR = 30  # read the stream of all projects when (visible projects)² > this × all projects
FEW_PROJECTS = 32  # at most this many, always one stream per project (no need to count all projects)


@dataclass(frozen=True)
class FeedScope:
    user_id: uuid.UUID
    project_id: uuid.UUID | None  # None: every project the user may see


@dataclass(frozen=True)
class _Plan:
    streams: dict[str, int]  # stream key -> its maxlen
    projects: frozenset[str]  # the project ids whose events may go out (checked again when they do)


async def open_feed(session: AsyncSession, *, actor: User, project_id: uuid.UUID | None) -> FeedScope:
    """The caller's feed: one project (if visible: else not found), or all they may see."""
    if project_id is not None:
        await require_project(session, actor, project_id)
    return FeedScope(actor.id, project_id)


async def _plan(resources: Resources, scope: FeedScope) -> _Plan | None:
    """What to read now; None when the caller may no longer read this feed."""
    async with resources.read_sessionmaker() as session:
        if scope.project_id is not None:
            if not await visible_among(session, scope.user_id, [scope.project_id]):
                return None
            stream = keys.project_feed(scope.project_id)
            return _Plan({stream: feed.PROJECT_MAXLEN}, frozenset([str(scope.project_id)]))
        user = await session.get(User, scope.user_id)
        if user is None or not user.is_active:
            return None
        ids = await allowed_project_ids(session, user)
        everything = len(ids) > FEW_PROJECTS and len(ids) ** 2 > ALL_STREAM_FACTOR * (
            await count_all_projects(session)
        )
    projects = frozenset(str(project_id) for project_id in ids)
    if everything:
        return _Plan({keys.FEED_ALL: feed.ALL_MAXLEN}, projects)
    return _Plan({keys.project_feed(project_id): feed.PROJECT_MAXLEN for project_id in ids}, projects)


async def _visible(resources: Resources, user_id: uuid.UUID, project_ids: set[str]) -> set[str]:
    async with resources.read_sessionmaker() as session:
        found = await visible_among(session, user_id, [uuid.UUID(value) for value in project_ids])
    return {str(project_id) for project_id in found}


def _gone(scope: FeedScope) -> dict[str, str]:
    """The last event of a feed the caller may no longer read."""
    if scope.project_id is not None:
        error = {"code": "not_found", "message": "project not found"}
    else:
        error = {"code": "unauthorized", "message": "this account can no longer read the feed"}
    return {"event": "error", "data": json.dumps(error)}


async def relay(
    resources: Resources, scope: FeedScope, *, last_event_id: str | None
) -> AsyncIterator[dict[str, str]]:
    """`ready` (its id is where the stream starts; `missed`: events after `Last-Event-ID` are gone), then
    every event after it that the caller may see, oldest first, until the client leaves."""
    redis = resources.redis
    cursor = last_event_id or await feed.current_cursor(redis)
    plan = await _plan(resources, scope)
    if plan is None:
        yield _gone(scope)
        return
    missed = last_event_id is not None and await feed.missed_since(redis, plan.streams, cursor)
    yield {"id": cursor, "event": "ready", "data": json.dumps({"missed": missed})}
    planned = time.monotonic()
    while True:
        if time.monotonic() - planned >= REFRESH_SECONDS:
            plan, planned = await _plan(resources, scope), time.monotonic()
            if plan is None:
                yield _gone(scope)
                return
        if not plan.streams:  # no project to follow yet
            await asyncio.sleep(BLOCK_MS / 1000)
            continue
        try:
            entries = await feed.read(redis, list(plan.streams), cursor, count=BATCH, block_ms=BLOCK_MS)
        except RedisError:
            # Redis slow or away for a moment: the stream stays open (pings go on) and reads again from
            # the same cursor, so nothing is lost.
            log.warning("could not read the event feed; retrying", exc_info=True)
            await asyncio.sleep(BLOCK_MS / 1000)
            continue
        if not entries:
            continue
        cursor = entries[-1].id
        wanted = [entry for entry in entries if entry.project_id in plan.projects]
        if not wanted:
            continue
        visible = await _visible(resources, scope.user_id, {entry.project_id for entry in wanted})
        if scope.project_id is not None and not visible:
            yield _gone(scope)
            return
        for entry in wanted:
            if entry.project_id in visible:
                yield {"id": entry.id, "event": entry.kind, "data": entry.data}
