"""AI routes: project search, the global search box, grounded answers."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from api.deps import CurrentUser, ResourcesDep, SessionDep
from api.schemas.ai import AskResponse, SearchResults
from api.services import ai as service
from core.models import SourceType
from retrieval.search import Hit, SearchFilters

router = APIRouter(prefix="/ai", tags=["ai"])
search_router = APIRouter(tags=["search"])

Query_ = Annotated[str, Query(min_length=1, max_length=10_000, description="the question or search terms")]
Limit = Annotated[int, Query(ge=1, le=50)]
Offset = Annotated[int, Query(ge=0, le=1000)]
ModeParam = Annotated[Literal["hybrid", "vector", "text"], Query(description="ranking: fused, meaning, words")]


def _filters(
    source_type: list[SourceType] | None,
    meeting_id: uuid.UUID | None,
    date_from: datetime | None,
    date_to: datetime | None,
) -> SearchFilters:
    return SearchFilters(tuple(source_type or ()), meeting_id, date_from, date_to)


def _result(hit: Hit) -> dict[str, Any]:
    return {
        "chunk_id": hit.chunk_id,
        "project_id": hit.project_id,
        "source_type": hit.source_type,
        "source_id": hit.source_id,
        "title": hit.title,
        "snippet": hit.snippet,
        "highlights": hit.highlights,
        "score": round(hit.score, 6),
        "meeting_id": hit.meeting_id,
        "start": hit.meta.get("start"),
        "end": hit.meta.get("end"),
        "speakers": hit.meta.get("speakers"),
    }


@router.get("/search/{project_id}", response_model=SearchResults)
async def search_project(
    project_id: uuid.UUID,
    q: Query_,
    session: SessionDep,
    resources: ResourcesDep,
    user: CurrentUser,
    limit: Limit = 10,
    offset: Offset = 0,
    mode: ModeParam = "hybrid",
    source_type: Annotated[list[SourceType] | None, Query()] = None,
    meeting_id: uuid.UUID | None = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
) -> object:
    """Hybrid search in one project. Transcript results carry the meeting and its start/end seconds."""
    hits, model = await service.search_project(
        session,
        resources,
        actor=user,
        project_id=project_id,
        query=q,
        limit=limit,
        offset=offset,
        mode=mode,
        filters=_filters(source_type, meeting_id, date_from, date_to),
    )
    return {"query": q, "results": [_result(hit) for hit in hits], "model": model, "mode": mode}


@search_router.get("/search", response_model=SearchResults)
async def search_everywhere(
    q: Query_,
    session: SessionDep,
    resources: ResourcesDep,
    user: CurrentUser,
    limit: Limit = 10,
    offset: Offset = 0,
    mode: ModeParam = "hybrid",
    source_type: Annotated[list[SourceType] | None, Query()] = None,
    date_from: datetime | None = None,
    date_to: datetime | None = None,
) -> object:
    """The dashboard's search box: every project the caller may see, and nothing else."""
    hits, model = await service.search_everywhere(
        session,
        resources,
        actor=user,
        query=q,
        limit=limit,
        offset=offset,
        mode=mode,
        filters=_filters(source_type, None, date_from, date_to),
    )
    return {"query": q, "results": [_result(hit) for hit in hits], "model": model, "mode": mode}


@router.get("/ask/{project_id}", response_model=AskResponse)
async def ask(
    project_id: uuid.UUID, q: Query_, session: SessionDep, resources: ResourcesDep, user: CurrentUser
) -> object:
    """A grounded answer with numbered citations, or a plain "I don't know" when nothing relevant is found."""
    return await service.ask(session, resources, actor=user, project_id=project_id, question=q)
