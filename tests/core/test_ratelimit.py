"""Rate limits in Redis: a refused hit stops at the key that refused it."""

from __future__ import annotations

import pytest

from api.resources import Resources
from core import ratelimit
from core.errors import RateLimited


async def test_a_user_over_their_limit_does_not_spend_the_projects_budget(resources: Resources) -> None:
    limits = {"ai:user:a": 1, "ai:project:p": 3}
    await ratelimit.hit_all(resources.redis, limits, window_seconds=60)
    for _ in range(5):  # user a keeps trying past their own limit
        with pytest.raises(RateLimited) as refused:
            await ratelimit.hit_all(resources.redis, limits, window_seconds=60)
        assert 1 <= refused.value.retry_after <= 60
    # the project has spent 1 of 3: two other members still get in, the third hit of theirs does not
    await ratelimit.hit_all(resources.redis, {"ai:user:b": 10, "ai:project:p": 3}, window_seconds=60)
    await ratelimit.hit_all(resources.redis, {"ai:user:c": 10, "ai:project:p": 3}, window_seconds=60)
    with pytest.raises(RateLimited):
        await ratelimit.hit_all(resources.redis, {"ai:user:b": 10, "ai:project:p": 3}, window_seconds=60)


async def test_reset_opens_a_new_window(resources: Resources) -> None:
    await ratelimit.hit(resources.redis, "login:x", limit=1, window_seconds=1)
    with pytest.raises(RateLimited):
        await ratelimit.hit(resources.redis, "login:x", limit=1, window_seconds=1)
    assert await resources.redis.ttl("ratelimit:login:x") in {0, 1}
    await ratelimit.reset(resources.redis, "login:x")
    await ratelimit.hit(resources.redis, "login:x", limit=1, window_seconds=1)
