"""Fixed-window rate limits counted in Redis (shared by every API process)."""

from __future__ import annotations

from redis.asyncio import Redis

from core.errors import RateLimited


async def hit(redis: Redis, key: str, *, limit: int, window_seconds: int) -> None:
    """Count one hit on `key`; raise RateLimited once more than `limit` hits fall in the window."""
    full_key = f"ratelimit:{key}"
    async with redis.pipeline(transaction=True) as pipe:
        pipe.set(full_key, 0, ex=window_seconds, nx=True)  # opens the window (Redis 6 has no EXPIRE NX)
        pipe.incr(full_key)
        pipe.ttl(full_key)
        _, count, ttl = await pipe.execute()
    if int(count) > limit:
        raise RateLimited("too many requests; try again later", retry_after=max(int(ttl), 1))


async def reset(redis: Redis, key: str) -> None:
    await redis.delete(f"ratelimit:{key}")
