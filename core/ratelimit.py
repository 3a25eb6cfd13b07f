"""Fixed-window rate limits counted in Redis (shared by every API process)."""

from __future__ import annotations

from collections.abc import Mapping

from redis.asyncio import Redis

from core import keys
from core.errors import RateLimited

# Count a hit on each key in order and stop at the first one over its limit: the keys after it are
# not spent by a request that is refused anyway (a user over their own limit must not use up their
# project's budget for everyone else). One round trip, atomic. Returns {0, 0} or {n, ttl of key n}.
_HIT = """
for i, key in ipairs(KEYS) do
  redis.call('SET', key, 0, 'EX', ARGV[1], 'NX')
  if redis.call('INCR', key) > tonumber(ARGV[i + 1]) then
    return {i, redis.call('TTL', key)}
  end
end
return {0, 0}
"""


async def hit(redis: Redis, key: str, *, limit: int, window_seconds: int) -> None:
    """Count one hit on `key`; raise RateLimited once more than `limit` hits fall in the window."""
    await hit_all(redis, {key: limit}, window_seconds=window_seconds)


async def hit_all(redis: Redis, limits: Mapping[str, int], *, window_seconds: int) -> None:
    """Count one hit on each key in order, like one `hit` after another that stops at the first refusal,
    in a single round trip; raise RateLimited with that key's remaining window."""
    names = [keys.rate_limit(key) for key in limits]
    args = [*names, str(window_seconds), *(str(limit) for limit in limits.values())]
    over, ttl = await redis.eval(_HIT, len(names), *args)  # type: ignore[misc]
    if int(over):
        raise RateLimited("too many requests; try again later", retry_after=max(int(ttl), 1))


async def reset(redis: Redis, key: str) -> None:
    await redis.delete(keys.rate_limit(key))
