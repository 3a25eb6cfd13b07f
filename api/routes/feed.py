"""The event feed over Server-Sent Events: one project's, or every project's the caller may see."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse

from api.deps import CurrentUser, ResourcesDep, SessionDep
from api.resources import Resources
from api.schemas.streams import StreamLink
from api.services import feed as service
from api.streams import (
    Credentials,
    Stream,
    StreamTokenParam,
    mint_stream_token,
    stream_token_ttl,
    stream_user,
)
from core.feed import CURSOR, FeedEvent, parse_cursor
from core.models import User

router = APIRouter(tags=["events"])

FEED_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/event-stream": {}},
        "description": "`ready`, then any of "
        + ", ".join(f"`{kind.value}`" for kind in FeedEvent)
        + "; `error` when the caller's access ends",
    }
}
LastEventIdQuery = Annotated[
    str | None,
    Query(
        pattern=CURSOR.pattern,
        description="resume after this event, for a new EventSource (the Last-Event-ID header wins)",
    ),
]
LastEventIdHeader = Annotated[str | None, Header(alias="Last-Event-ID", include_in_schema=False)]


def _link(resources: Resources, user: User, path: str, subject: uuid.UUID) -> dict[str, Any]:
    token = mint_stream_token(resources, user=user, stream=Stream.FEED, subject=subject)
    ttl = stream_token_ttl(resources, Stream.FEED)
    return {"url": f"/api/v1{path}?token={token}", "token": token, "expires_in": ttl}


def _events(
    resources: Resources, scope: service.FeedScope, header: str | None, query: str | None
) -> EventSourceResponse:
    resume = header or query
    last_event_id = parse_cursor(resume) if resume else None
    return EventSourceResponse(
        service.relay(resources, scope, last_event_id=last_event_id),
        ping=15,
        headers={"Cache-Control": "no-store"},
    )


@router.post("/events/token", response_model=StreamLink)
async def feed_link(resources: ResourcesDep, user: CurrentUser) -> object:
    """A short-lived URL of `GET /events` for a browser's EventSource (which cannot send headers)."""
    return _link(resources, user, "/events", user.id)


@router.get("/events", response_class=EventSourceResponse, responses=FEED_RESPONSES)
async def feed(
    request: Request,
    session: SessionDep,
    resources: ResourcesDep,
    credentials: Credentials,
    token: StreamTokenParam = None,
    last_event_id: LastEventIdQuery = None,
    last_event_id_header: LastEventIdHeader = None,
) -> EventSourceResponse:
    """What changes in every project the caller may see, as it happens: indexing, transcription stages,
    summaries, commitments (created, closed, falling due, overdue), insights, converted documents. An
    event's data holds its `project_id` and `ts`. Resumable: reconnect with `Last-Event-ID` (or
    `?last_event_id=`) and the events since then follow (`ready` says `missed` when some are gone)."""
    user = await stream_user(
        request, session, resources, credentials, token, stream=Stream.FEED, subject=None
    )
    scope = await service.open_feed(session, actor=user, project_id=None)
    return _events(resources, scope, last_event_id_header, last_event_id)


@router.post("/projects/{project_id}/events/token", response_model=StreamLink)
async def project_feed_link(
    project_id: uuid.UUID, session: SessionDep, resources: ResourcesDep, user: CurrentUser
) -> object:
    """A short-lived URL of `GET /projects/{id}/events` for a browser's EventSource."""
    await service.open_feed(session, actor=user, project_id=project_id)
    return _link(resources, user, f"/projects/{project_id}/events", project_id)


@router.get("/projects/{project_id}/events", response_class=EventSourceResponse, responses=FEED_RESPONSES)
async def project_feed(
    project_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    resources: ResourcesDep,
    credentials: Credentials,
    token: StreamTokenParam = None,
    last_event_id: LastEventIdQuery = None,
    last_event_id_header: LastEventIdHeader = None,
) -> EventSourceResponse:
    """The same feed for one project; it ends (an `error` event) if the caller loses the project."""
    user = await stream_user(
        request, session, resources, credentials, token, stream=Stream.FEED, subject=project_id
    )
    scope = await service.open_feed(session, actor=user, project_id=project_id)
    return _events(resources, scope, last_event_id_header, last_event_id)
