"""Rate limits of the costly routes (search, insights, suggestions, uploads, registering, eval runs).

Each has a budget per user, then one per project, or per client IP on routes without a project, counted
in Redis (core/ratelimit.py) in that order, so a user over their own budget never spends the project's.
A project's budget is spent after the access check, so nobody spends the budget of a project they cannot
see. Past a budget: 429 with Retry-After, in the usual error shape. The numbers are settings
(`V1TR0_LIMITS__<BUDGET>__PER_USER` / `__PER_PROJECT` / `__PER_IP` / `__WINDOW`); login and the AI
answers keep their own (`api/routes/auth.py`, `api.services.ai.limit_ai_use`)."""

from __future__ import annotations

import enum
import uuid

from fastapi import Request

from api.resources import Resources
from core import ratelimit
from core.settings import Limit


class Budget(enum.StrEnum):
    """A costly route's budget; the value names its settings group."""

    SEARCH = "search"
    GLOBAL_SEARCH = "global_search"
    INSIGHTS = "insights"
    SUGGESTIONS = "suggestions"
    UPLOADS = "uploads"
    REGISTRATION = "registration"
    EVAL_RUNS = "eval_runs"


def client_ip(request: Request) -> str:
    """The caller's address as the server sees it (behind a proxy: run uvicorn with --proxy-headers)."""
    return request.client.host if request.client else "unknown"


async def spend(
    resources: Resources,
    budget: Budget,
    *,
    user_id: uuid.UUID | None = None,
    project_id: uuid.UUID | None = None,
    ip: str | None = None,
) -> None:
    """Count one request against the budget of each one given; RateLimited past any of them."""
    limit: Limit = getattr(resources.settings.limits, budget.value)
    counters: dict[str, int] = {}
    if user_id is not None:
        counters[f"{budget.value}:user:{user_id}"] = limit.per_user
    if project_id is not None:
        counters[f"{budget.value}:project:{project_id}"] = limit.per_project
    if ip is not None:
        counters[f"{budget.value}:ip:{ip}"] = limit.per_ip
    await ratelimit.hit_all(resources.redis, counters, window_seconds=limit.window)
