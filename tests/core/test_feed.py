"""The feed's streams in Redis: ids ordered across every project's stream, reads that merge streams
without skipping, trimming detected on resume, and publishing that never raises."""

from __future__ import annotations

import json
import time
import uuid

import pytest
import redis.asyncio as aioredis

from api.resources import Resources
from core import feed, keys
from core.embedded import free_port
from core.errors import Invalid
from core.feed import FeedEvent


async def test_ids_increase_across_projects_and_each_event_is_in_its_stream_and_the_stream_of_all(
    resources: Resources,
) -> None:
    redis = resources.redis
    first, second = uuid.uuid4(), uuid.uuid4()
    ids = [await feed.append(redis, project, FeedEvent.INDEX_INDEXED, n=n) for n, project in
           enumerate([first, second, first, second, second])]  # fmt: skip
    assert [feed.position(i) for i in ids] == sorted(feed.position(i) for i in ids)
    assert len(set(ids)) == 5
    assert await feed.current_cursor(redis) == ids[-1]

    mine = await feed.read(redis, [keys.project_feed(first)], feed.START, count=100, block_ms=None)
    assert [entry.id for entry in mine] == [ids[0], ids[2]]
    everything = await feed.read(redis, [keys.FEED_ALL], feed.START, count=100, block_ms=None)
    assert [entry.id for entry in everything] == ids
    entry = everything[1]
    assert (entry.kind, entry.project_id) == ("index.indexed", str(second))
    data = json.loads(entry.data)
    assert data["project_id"] == str(second) and data["n"] == 1 and data["ts"] <= time.time()


async def test_ids_stay_ordered_when_the_clock_repeats_a_millisecond(resources: Resources) -> None:
    """Many events in one millisecond get the same ms and increasing sequence numbers."""
    redis = resources.redis
    future = f"{int(time.time() * 1000) + 60_000}-7"  # the last id handed out is ahead of the clock
    await redis.set(keys.FEED_CLOCK, future)
    project = uuid.uuid4()
    first = await feed.append(redis, project, FeedEvent.INDEX_INDEXED)
    second = await feed.append(redis, uuid.uuid4(), FeedEvent.INDEX_INDEXED)
    assert (first, second) == (future.replace("-7", "-8"), future.replace("-7", "-9"))


async def test_reading_several_streams_never_skips_an_event(resources: Resources) -> None:
    """A stream that returns a full batch may hold events older than another stream's: those of the
    other stream wait for the next read."""
    redis = resources.redis
    busy, quiet = uuid.uuid4(), uuid.uuid4()
    written = [await feed.append(redis, busy, FeedEvent.INDEX_INDEXED) for _ in range(5)]
    written.append(await feed.append(redis, quiet, FeedEvent.INDEX_INDEXED))
    written += [await feed.append(redis, busy, FeedEvent.INDEX_INDEXED) for _ in range(2)]
    streams = [keys.project_feed(busy), keys.project_feed(quiet)]
    delivered: list[str] = []
    cursor = feed.START
    while batch := await feed.read(redis, streams, cursor, count=2, block_ms=None):
        assert all(feed.position(e.id) > feed.position(cursor) for e in batch)
        delivered += [entry.id for entry in batch]
        cursor = batch[-1].id
    assert delivered == written


async def test_a_stream_trimmed_past_the_cursor_says_events_were_missed(
    resources: Resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    redis = resources.redis
    project = uuid.uuid4()
    stream = {keys.project_feed(project): 3}
    cursor = await feed.append(redis, project, FeedEvent.INDEX_INDEXED)
    assert not await feed.missed_since(redis, stream, cursor)
    for _ in range(5):
        await feed.append(redis, project, FeedEvent.INDEX_INDEXED)
    assert not await feed.missed_since(redis, stream, cursor)  # never trimmed: all five are there
    await redis.xtrim(keys.project_feed(project), maxlen=3, approximate=False)
    assert await feed.missed_since(redis, stream, cursor)
    assert not await feed.missed_since(redis, stream, feed.START)  # a client that starts now missed nothing
    older_than_streams_live = f"{int((time.time() - feed.TTL - 60) * 1000)}-0"
    assert await feed.missed_since(redis, {keys.project_feed(uuid.uuid4()): 3}, older_than_streams_live)


async def test_streams_are_capped_and_expire(resources: Resources) -> None:
    redis = resources.redis
    project = uuid.uuid4()
    await feed.append(redis, project, FeedEvent.INDEX_INDEXED)
    for key in (keys.project_feed(project), keys.FEED_ALL):
        assert 0 < await redis.ttl(key) <= feed.TTL


@pytest.mark.parametrize("value", ["", "12", "abc-1", "1-2-3", "1.5-0", "-1-0", "1" * 16 + "-0"])
def test_a_last_event_id_that_is_not_ours_is_invalid(value: str) -> None:
    with pytest.raises(Invalid) as refused:
        feed.parse_cursor(value)
    assert refused.value.code == "invalid_last_event_id"


def test_a_last_event_id_of_ours_is_accepted() -> None:
    assert feed.parse_cursor("1733500000000-12") == "1733500000000-12"


async def test_publishing_never_raises_when_redis_is_away(caplog: pytest.LogCaptureFixture) -> None:
    unreachable = aioredis.Redis(port=free_port(), socket_connect_timeout=0.5)
    try:
        await feed.publish(unreachable, uuid.uuid4(), FeedEvent.INDEX_INDEXED, n=1)
    finally:
        await unreachable.aclose()
    assert "could not publish the index.indexed event" in caplog.text
