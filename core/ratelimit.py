"""Fixed-window rate limits counted in Redis (shared by every API process)."""

from __future__ import annotations

from collections.abc import Mapping

from redis.asyncio import Redis

from core.errors import RateLimited


async def hit(redis: Redis, key: str, *, limit: int, window_seconds: int) -> None:
    """Count one hit on `key`; raise RateLimited once more than `limit` hits fall in the window."""
    await hit_all(redis, {key: limit}, window_seconds=window_seconds)


async def hit_all(redis: Redis, limits: Mapping[str, int], *, window_seconds: int) -> None:
    """Count one hit on every key (in one round trip); raise RateLimited if any is over its limit, with
    the longest wait among those over."""
    async with redis.pipeline(transaction=True) as pipe:
        for key in limits:
            full_key = f"ratelimit:{key}"
            pipe.set(full_key, 0, ex=window_seconds, nx=True)  # opens the window (Redis 6: no EXPIRE NX)
            pipe.incr(full_key)
            pipe.ttl(full_key)
        replies = await pipe.execute()
    waits = [
        max(int(replies[3 * n + 2]), 1)
        for n, limit in enumerate(limits.values())
        if int(replies[3 * n + 1]) > limit
    ]
    if waits:
        raise RateLimited("too many requests; try again later", retry_after=max(waits))


async def reset(redis: Redis, key: str) -> None:
    await redis.delete(f"ratelimit:{key}")
