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
from core import feed, i18n, keys
from core.feed import FeedEvent
from core.i18n import DEFAULT_LANGUAGE, INDEX_LANGUAGE, Language
from core.models import Chunk, Document, Meeting, SourceType, User
from retrieval.insights import assess_health, gather_sources

log = logging.getLogger("v1tr0.insights")


def generation_key(project_id: uuid.UUID) -> str:
    """Bumped by the worker whenever the project's index changes; part of the cache key."""
    return keys.index_generation(project_id)


def _health(stats: dict[str, Any], language: Language) -> dict[str, Any]:
    health = assess_health(stats, language)
    return {"status": health.status, "reasons": health.reasons, "stats": stats}


async def insights(
    session: AsyncSession,
    resources: Resources,
    *,
    actor: User,
    project_id: uuid.UUID,
    language: Language = DEFAULT_LANGUAGE,
) -> dict[str, Any]:
    """Health in `language` (computed from the numbers on every read, so one cached copy serves every
    language), and the items drawn from the index, quoted as indexed."""
    access = await require_project(session, actor, project_id)
    await limits.spend(resources, Budget.INSIGHTS, user_id=actor.id, project_id=project_id)
    redis = resources.redis
    generation = (await redis.get(generation_key(project_id)) or b"0").decode()
    stamp = access.project.updated_at.isoformat()
    cache_key = keys.insights_cache(project_id, generation, stamp)
    cached = await redis.get(cache_key)
    if cached:
        result: dict[str, Any] = json.loads(cached)
        return result | {"health": _health(result["health"]["stats"], language), "language": language}
    stats = await project_stats(session, actor=actor, project_id=project_id)
    health = assess_health(stats, INDEX_LANGUAGE)  # the insights prompt is written in it
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
        "health": _health(stats, language),
        **items,
        "provider": writer.provider,
        "model": writer.model,
        "prompt_name": prompt.name,
        "prompt_version": prompt.version,
        "language": language,
        "cached": False,
    }
    ttl = resources.settings.retrieval.insights_cache_ttl
    if ttl:
        await redis.set(cache_key, json.dumps(result | {"cached": True}, default=str), ex=ttl)
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
    session: AsyncSession,
    resources: Resources,
    *,
    actor: User,
    project_id: uuid.UUID,
    limit: int = 6,
    language: Language = DEFAULT_LANGUAGE,
) -> list[dict[str, str]]:
    """Questions this project's indexed content can answer, built from what it actually holds, asked in
    `language` (an answer follows its question's language)."""
    await require_project(session, actor, project_id)
    await limits.spend(resources, Budget.SUGGESTIONS, user_id=actor.id, project_id=project_id)
    present = set(
        (
            await session.scalars(
                sa.select(sa.distinct(Chunk.source_type)).where(Chunk.project_id == project_id)
            )
        ).all()
    )

    def ask(key: str, source_type: SourceType, **values: str) -> dict[str, str]:
        return {"question": i18n.text(key, language, **values), "source_type": source_type.value}

    questions: list[dict[str, str]] = []
    if SourceType.PROJECT in present:
        questions.append(ask("suggest.project", SourceType.PROJECT))
    if SourceType.COMMITMENTS in present:
        questions.append(ask("suggest.commitments", SourceType.COMMITMENTS))
    if SourceType.KEY_POINTS in present:
        questions.append(ask("suggest.decisions", SourceType.KEY_POINTS))
    meeting = await session.scalar(
        sa.select(Meeting.title)
        .where(Meeting.project_id == project_id)
        .order_by(Meeting.start_time.desc().nulls_last())
    )
    if meeting and (SourceType.TRANSCRIPT in present or SourceType.SUMMARY in present):
        questions.append(ask("suggest.meeting", SourceType.TRANSCRIPT, title=meeting))
    titles = (
        await session.scalars(
            sa.select(Document.title)
            .where(Document.project_id == project_id)
            .order_by(Document.updated_at.desc())
            .limit(3)
        )
    ).all()
    if SourceType.DOCUMENT in present:
        questions += [ask("suggest.document", SourceType.DOCUMENT, title=title) for title in titles]
    return questions[:limit]
