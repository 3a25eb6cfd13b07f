"""AI routes: project search, the global search box, grounded answers."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

import anyio
from fastapi import Depends, Query, Request, Response
from sse_starlette import EventSourceResponse

from api.deps import CurrentUser, ResourcesDep, SessionDep
from api.language import RequestLanguage
from api.limits import client_ip
from api.resources import Resources
from api.responses import JsonBytes
from api.routing import ApiRouter
from api.schemas.ai import AskResponse, ChatMessageRead, ChatRequest, ChunkRead, SearchResults, StreamTicket
from api.schemas.common import Page
from api.services import ai as service
from api.services import chat as chat_service
from api.services import insights as insights_service
from api.services.reads import JsonBody
from api.streams import (
    STREAM_TOKEN_TTL,
    Credentials,
    Stream,
    StreamTokenParam,
    mint_stream_token,
    stream_user,
)
from core.models import SourceType
from retrieval.answer import DOCUMENT_PLACES
from retrieval.search import Hit, SearchFilters

router = ApiRouter(prefix="/ai", tags=["ai"])
search_router = ApiRouter(tags=["search"])

Query_ = Annotated[str, Query(min_length=1, max_length=10_000, description="the question or search terms")]
Limit = Annotated[int, Query(ge=1, le=50)]
Offset = Annotated[int, Query(ge=0, le=1000)]
ModeParam = Annotated[
    Literal["hybrid", "vector", "text"], Query(description="ranking: fused, meaning, words")
]


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
        "segment_ids": hit.meta.get("segment_ids"),
        **{key: hit.meta.get(key) for key in DOCUMENT_PLACES},
    }


def _results(query: str, outcome: service.SearchOutcome, mode: str) -> dict[str, Any]:
    return {
        "query": query,
        "results": [_result(hit) for hit in outcome.hits],
        "model": outcome.model,
        "mode": mode,
        "index_pending": outcome.index_pending,
        "lexical": outcome.lexical,
    }


@dataclass
class SearchParams:
    """The query parameters both searches take."""

    q: Query_
    limit: Limit = 10
    offset: Offset = 0
    mode: ModeParam = "hybrid"
    source_type: Annotated[list[SourceType] | None, Query()] = None
    date_from: datetime | None = None
    date_to: datetime | None = None

    def filters(self, meeting_id: uuid.UUID | None = None) -> SearchFilters:
        return SearchFilters(tuple(self.source_type or ()), meeting_id, self.date_from, self.date_to)


SearchParamsDep = Annotated[SearchParams, Depends()]
# The routes validate their answer into the response model once and send its JSON (FastAPI would walk the
# returned dict, validate it and serialise it again).
SEARCH_RESULTS = JsonBody(SearchResults)
ASK_RESPONSE = JsonBody(AskResponse)


async def _search(
    request: Request,
    session: SessionDep,
    resources: ResourcesDep,
    user: CurrentUser,
    params: SearchParams,
    *,
    project_id: uuid.UUID | None,
    meeting_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    outcome = await service.search(
        session,
        resources,
        actor=user,
        client_ip=client_ip(request),
        project_id=project_id,
        query=params.q,
        limit=params.limit,
        offset=params.offset,
        mode=params.mode,
        filters=params.filters(meeting_id),
    )
    return _results(params.q, outcome, params.mode)


@router.get("/search/{project_id}", response_model=SearchResults)
async def search_project(
    project_id: uuid.UUID,
    params: SearchParamsDep,
    request: Request,
    session: SessionDep,
    resources: ResourcesDep,
    user: CurrentUser,
    meeting_id: uuid.UUID | None = None,
) -> Response:
    """Hybrid search in one project. Transcript results carry the meeting and its start/end seconds."""
    results = await _search(
        request, session, resources, user, params, project_id=project_id, meeting_id=meeting_id
    )
    return JsonBytes(SEARCH_RESULTS(results))


@search_router.get("/search", response_model=SearchResults)
async def search_everywhere(
    params: SearchParamsDep, request: Request, session: SessionDep, resources: ResourcesDep, user: CurrentUser
) -> Response:
    """The dashboard's search box: every project the caller may see, and nothing else."""
    return JsonBytes(
        SEARCH_RESULTS(await _search(request, session, resources, user, params, project_id=None))
    )


@router.get("/chunks/{chunk_id}", response_model=ChunkRead, response_model_by_alias=True)
async def get_chunk(chunk_id: int, session: SessionDep, user: CurrentUser) -> object:
    """The full text of a cited chunk (citations carry its id)."""
    return await service.get_chunk(session, actor=user, chunk_id=chunk_id)


@router.get("/ask/{project_id}", response_model=AskResponse)
async def ask(
    project_id: uuid.UUID, q: Query_, session: SessionDep, resources: ResourcesDep, user: CurrentUser
) -> Response:
    """A grounded answer with numbered citations, or a plain "I don't know" when nothing relevant is found."""
    return JsonBytes(
        ASK_RESPONSE(await service.ask(session, resources, actor=user, project_id=project_id, question=q))
    )


def _last_event_id(request: Request) -> int:
    value = request.headers.get("last-event-id", "0")
    return int(value) if value.isdigit() else 0


# Under uvicorn's --timeout-graceful-shutdown (10 s in the supervisor), so the farewell gets out.
SHUTDOWN_GRACE = 3.0


def _sse(resources: Resources, message_id: uuid.UUID, last_event_id: int) -> EventSourceResponse:
    shutdown = anyio.Event()

    async def interrupt_on_shutdown() -> None:
        await shutdown.wait()
        await chat_service.interrupt_local_turn(resources, message_id)

    async def events() -> AsyncIterator[dict[str, str]]:
        await chat_service.ensure_started(resources, message_id)
        # On shutdown the turn stops here and its `error` event is relayed before the stream closes.
        watcher = asyncio.create_task(interrupt_on_shutdown())
        try:
            async for event in chat_service.relay(resources, message_id, last_event_id=last_event_id):
                yield event
        finally:
            watcher.cancel()

    return EventSourceResponse(
        events(),
        ping=15,
        headers={"X-Message-Id": str(message_id), "Cache-Control": "no-store"},
        shutdown_event=shutdown,
        shutdown_grace_period=SHUTDOWN_GRACE,
    )


SSE_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/event-stream": {}}, "description": "start, delta…, citations, done | error"}
}


@router.post("/chat/{project_id}", response_class=EventSourceResponse, responses=SSE_RESPONSE)
async def chat(
    project_id: uuid.UUID,
    body: ChatRequest,
    request: Request,
    session: SessionDep,
    resources: ResourcesDep,
    user: CurrentUser,
) -> EventSourceResponse:
    """Ask in the project's chat; the answer streams as Server-Sent Events. Reconnect to
    `GET /chat/{project_id}/stream/{message_id}` with `Last-Event-ID` to resume it."""
    row = await chat_service.start_turn(
        session,
        resources,
        actor=user,
        project_id=project_id,
        message=body.message,
        conversation_id=body.conversation_id,
    )
    return _sse(resources, row.id, _last_event_id(request))


@router.post("/chat/{project_id}/streams", response_model=StreamTicket, status_code=201)
async def open_stream(
    project_id: uuid.UUID, body: ChatRequest, session: SessionDep, resources: ResourcesDep, user: CurrentUser
) -> object:
    """For browsers' EventSource (which cannot send headers): create the turn and get a URL with a
    short-lived token valid for this one stream."""
    row = await chat_service.start_turn(
        session,
        resources,
        actor=user,
        project_id=project_id,
        message=body.message,
        conversation_id=body.conversation_id,
    )
    token = mint_stream_token(resources, user=user, stream=Stream.CHAT, subject=row.id)
    return {
        "message_id": row.id,
        "conversation_id": row.conversation_id,
        "stream_url": f"/api/v1/ai/chat/{project_id}/stream/{row.id}?token={token}",
        "expires_in": STREAM_TOKEN_TTL,
    }


@router.get(
    "/chat/{project_id}/stream/{message_id}",
    response_class=EventSourceResponse,
    responses={**SSE_RESPONSE, 204: {"description": "the answer is over and the client has its final event"}},
)
async def stream(
    project_id: uuid.UUID,
    message_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    resources: ResourcesDep,
    credentials: Credentials,
    token: StreamTokenParam = None,
) -> Response:
    """Follow (or resume, with `Last-Event-ID`) one answer."""
    user = await stream_user(
        request, session, resources, credentials, token, stream=Stream.CHAT, subject=message_id
    )
    await chat_service.message_for(session, actor=user, project_id=project_id, message_id=message_id)
    last_event_id = _last_event_id(request)
    if await chat_service.nothing_left(resources, message_id, last_event_id=last_event_id):
        return Response(status_code=204)  # EventSource stops reconnecting on a 204
    return _sse(resources, message_id, last_event_id)


@router.post("/chat/{project_id}/messages/{message_id}/stop", status_code=202)
async def stop(
    project_id: uuid.UUID,
    message_id: uuid.UUID,
    session: SessionDep,
    resources: ResourcesDep,
    user: CurrentUser,
) -> dict[str, str]:
    """Stop generating; what was generated so far is kept with status `stopped`."""
    await chat_service.request_stop(
        session, resources, actor=user, project_id=project_id, message_id=message_id
    )
    return {"status": "stopping"}


@router.get("/chat/{project_id}", response_model=Page[ChatMessageRead])
async def chat_history(
    project_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    conversation_id: uuid.UUID | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> object:
    """The caller's chat turns in this project, newest first."""
    items, total = await chat_service.history(
        session,
        actor=user,
        project_id=project_id,
        conversation_id=conversation_id,
        limit=limit,
        offset=offset,
    )
    return Page(items=items, total=total, limit=limit, offset=offset)


@router.get("/insights/{project_id}")
async def insights(
    project_id: uuid.UUID,
    session: SessionDep,
    resources: ResourcesDep,
    user: CurrentUser,
    language: RequestLanguage,
) -> dict[str, Any]:
    """Health from the project's numbers, plus open commitments, decisions, risks and next steps from its
    meetings and documents, each with citations. Cached until the project or its index changes. The health
    reasons are in the language asked for; the items quote the indexed text (Spanish)."""
    return await insights_service.insights(
        session, resources, actor=user, project_id=project_id, language=language
    )


@router.get("/suggestions/{project_id}")
async def suggestions(
    project_id: uuid.UUID,
    session: SessionDep,
    resources: ResourcesDep,
    user: CurrentUser,
    language: RequestLanguage,
) -> dict[str, Any]:
    """A few questions this project's content can answer (for the empty chat box), in the language asked
    for."""
    found = await insights_service.suggestions(
        session, resources, actor=user, project_id=project_id, language=language
    )
    return {"suggestions": found}
