"""Insights and suggested questions for a project, cached in Redis until the project changes."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from api import limits
from api.access import require_project
from api.limits import Budget
from api.resources import Resources
from api.services.ai import make_retriever
from api.services.projects import project_stats
from core import feed, keys
from core.feed import FeedEvent
from core.models import Chunk, Document, Meeting, SourceType, User
from retrieval.insights import assess_health, gather_sources

log = logging.getLogger("v1tr0.insights")


def generation_key(project_id: uuid.UUID) -> str:
    """Bumped by the worker whenever the project's index changes; part of the cache key."""
    return keys.index_generation(project_id)


async def insights(
    session: AsyncSession, resources: Resources, *, actor: User, project_id: uuid.UUID
) -> dict[str, Any]:
    access = await require_project(session, actor, project_id)
    await limits.spend(resources, Budget.INSIGHTS, user_id=actor.id, project_id=project_id)
    redis = resources.redis
    generation = (await redis.get(generation_key(project_id)) or b"0").decode()
    stamp = access.project.updated_at.isoformat()
    cache_key = keys.insights_cache(project_id, generation, stamp)
    cached = await redis.get(cache_key)
    if cached:
        result: dict[str, Any] = json.loads(cached)
        result["cached"] = True
        return result
    stats = await project_stats(session, actor=actor, project_id=project_id)
    health = assess_health(stats)
    retriever = await make_retriever(session, resources, project_ids=[project_id])
    prompt = resources.prompts.get("insights")
    writer = resources.ai.insight_writer
    items = await writer.write(
        await gather_sources(retriever),
        project_title=access.project.title,
        health=health,
        context_tokens=resources.settings.retrieval.context_tokens,
    )
    result = {
        "project_id": str(project_id),
        "health": {"status": health.status, "reasons": health.reasons, "stats": stats},
        **items,
        "provider": writer.provider,
        "model": writer.model,
        "prompt_name": prompt.name,
        "prompt_version": prompt.version,
        "cached": False,
    }
    ttl = resources.settings.retrieval.insights_cache_ttl
    if ttl:
        await redis.set(cache_key, json.dumps(result, default=str), ex=ttl)
    await feed.publish(
        redis,
        project_id,
        FeedEvent.INSIGHTS_REFRESHED,
        health=health.status,
        generation=generation,
        provider=writer.provider,
        model=writer.model,
    )
    return result


async def suggestions(
    session: AsyncSession, resources: Resources, *, actor: User, project_id: uuid.UUID, limit: int = 6
) -> list[dict[str, str]]:
    """Questions this project's indexed content can answer, built from what it actually holds."""
    await require_project(session, actor, project_id)
    await limits.spend(resources, Budget.SUGGESTIONS, user_id=actor.id, project_id=project_id)
    present = set(
        (
            await session.scalars(
                sa.select(sa.distinct(Chunk.source_type)).where(Chunk.project_id == project_id)
            )
        ).all()
    )
    questions: list[dict[str, str]] = []
    if SourceType.PROJECT in present:
        questions.append(
            {"question": "¿En qué estado está el proyecto y cuál es su alcance?", "source_type": "project"}
        )
    if SourceType.COMMITMENTS in present:
        questions.append(
            {"question": "¿Qué compromisos hay pendientes y quién los tiene?", "source_type": "commitments"}
        )
    if SourceType.KEY_POINTS in present:
        questions.append(
            {"question": "¿Qué decisiones se tomaron en las reuniones?", "source_type": "key_points"}
        )
    meeting = await session.scalar(
        sa.select(Meeting.title)
        .where(Meeting.project_id == project_id)
        .order_by(Meeting.start_time.desc().nulls_last())
    )
    if meeting and (SourceType.TRANSCRIPT in present or SourceType.SUMMARY in present):
        questions.append(
            {"question": f"¿Qué se habló en la reunión «{meeting}»?", "source_type": "transcript"}
        )
    titles = (
        await session.scalars(
            sa.select(Document.title)
            .where(Document.project_id == project_id)
            .order_by(Document.updated_at.desc())
            .limit(3)
        )
    ).all()
    if SourceType.DOCUMENT in present:
        questions += [
            {"question": f"¿Qué dice el documento «{title}»?", "source_type": "document"} for title in titles
        ]
    return questions[:limit]
