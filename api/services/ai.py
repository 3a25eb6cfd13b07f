"""The AI routes' services: scoped search and grounded answers. Scope comes from api.access, always."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from api import limits
from api.access import allowed_project_ids, require_project, visible_project_ids
from api.limits import Budget
from api.resources import Resources
from core import ratelimit
from core.errors import NotFound
from core.metrics import record_llm_usage
from core.models import Chunk, Project, User
from retrieval.lexical import Lexical, active_lexical, session_lexical
from retrieval.pipeline import Question, answer_events, collect
from retrieval.relevance import ProjectNames
from retrieval.retriever import HybridRetriever, search_scope
from retrieval.search import Hit, Mode, SearchFilters


async def make_retriever(
    session: AsyncSession,
    resources: Resources,
    *,
    project_ids: list[uuid.UUID],
    mode: Mode = "hybrid",
    filters: SearchFilters | None = None,
) -> HybridRetriever:
    config = resources.settings.retrieval
    scope = await search_scope(session, project_ids, lexical=await session_lexical(session, config.lexical))
    return HybridRetriever(
        session=session,
        project_ids=project_ids,
        embedder=resources.embedder(scope.model.name),
        model=scope.model,
        config=config,
        redis=resources.redis,
        mode=mode,
        filters=filters,
        bm25=scope.bm25,
        index_pending=scope.pending,
        corpus=scope.corpus,
    )


@dataclass
class SearchOutcome:
    hits: list[Hit]
    model: str
    index_pending: int  # changes of the searched projects not yet in the index
    lexical: Lexical | None  # the full-text ranking used (None: vector search only)


async def search(
    session: AsyncSession,
    resources: Resources,
    *,
    actor: User,
    client_ip: str,
    project_id: uuid.UUID | None,
    query: str,
    limit: int,
    offset: int,
    mode: Mode,
    filters: SearchFilters,
) -> SearchOutcome:
    """One project's chunks, or (project_id None: the dashboard's search box) those of every project the
    caller may see."""
    if project_id is not None:
        await require_project(session, actor, project_id)
        await limits.spend(resources, Budget.SEARCH, user_id=actor.id, project_id=project_id)
        project_ids = [project_id]
    else:
        await limits.spend(resources, Budget.GLOBAL_SEARCH, user_id=actor.id, ip=client_ip)
        project_ids = await allowed_project_ids(session, actor)
    retriever = await make_retriever(session, resources, project_ids=project_ids, mode=mode, filters=filters)
    hits = await retriever.search_diverse(query, limit=limit, offset=offset)
    lexical = None if mode == "vector" else await active_lexical(resources.engine, retriever.config.lexical)
    return SearchOutcome(hits, retriever.model.name, retriever.index_pending, lexical)


async def get_chunk(session: AsyncSession, *, actor: User, chunk_id: int) -> Chunk:
    """One cited chunk, if its project is visible to the caller (else 404, like a missing one)."""
    chunk = await session.get(Chunk, chunk_id)
    if chunk is None:
        raise NotFound("chunk not found")
    await require_project(session, actor, chunk.project_id, what="chunk")
    return chunk


async def limit_ai_use(resources: Resources, *, actor: User, project_id: uuid.UUID) -> None:
    """AI routes cost model time: a per-user and a per-project budget per minute (429 past it)."""
    limits = resources.settings.retrieval
    await ratelimit.hit_all(
        resources.redis,
        {
            f"ai:user:{actor.id}": limits.ai_rate_limit,
            f"ai:project:{project_id}": limits.ai_project_rate_limit,
        },
        window_seconds=60,
    )


async def project_names(session: AsyncSession, actor: User, project: Project) -> ProjectNames:
    """The asked project's title and those of the caller's other projects (for the abstention decision:
    a question that names another project is likely answered there)."""
    others = await session.scalars(
        sa.select(Project.title)
        .where(Project.id.in_(visible_project_ids(actor)), Project.id != project.id)
        .limit(MAX_OTHER_PROJECTS)
    )
    return ProjectNames(project.title, tuple(others.all()), project.description or "")


MAX_OTHER_PROJECTS = 200


async def ask(
    session: AsyncSession,
    resources: Resources,
    *,
    actor: User,
    project_id: uuid.UUID,
    question: str,
    prompt_name: str = "answer",
) -> dict[str, Any]:
    access = await require_project(session, actor, project_id)
    await limit_ai_use(resources, actor=actor, project_id=project_id)
    prompt = resources.prompts.get(prompt_name)
    retriever = await make_retriever(session, resources, project_ids=[project_id])
    answer = await collect(
        answer_events(
            Question(
                question,
                extra={"project_title": access.project.title},
                scope=await project_names(session, actor, access.project),
            ),
            retriever=retriever,
            answerer=resources.ai.answerer,
            prompt=prompt,
            config=resources.settings.retrieval,
            index_pending=retriever.index_pending,
            postprocessors=resources.ai.postprocessors,
        )
    )
    done = answer.done
    assert done is not None
    if done.grounded:
        record_llm_usage(
            provider=done.provider,
            model=done.model,
            project_id=project_id,
            usage=done.usage,
            prices=resources.settings.openai,
        )
    return {
        "answer": answer.text,
        "citations": answer.citations,
        "grounded": done.grounded,
        "provider": done.provider,
        "model": done.model,
        "prompt_name": done.prompt_name,
        "prompt_version": done.prompt_version,
        "index_pending": answer.index_pending,
    }
