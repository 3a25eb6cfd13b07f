"""The hottest reads, a project and a meeting by id and the pages of both lists, answered below FastAPI's
router.

A project read spent about a third of its CPU in FastAPI itself: matching the path against the app's
routers, building the request, solving the dependency, wrapping the endpoint in exception and exit-stack
layers (bench/crud.py's py-spy profile, docs/performance.md). HotReads, the innermost middleware (inside
CORS and the request context, so headers, logs, metrics and traces are the same), answers
`GET /api/v1/projects/{id}`, `GET /api/v1/meetings/{id}`, `GET /api/v1/projects?…` and
`GET /api/v1/meetings?…` itself with the route's own parts: the bearer scheme that verifies the token
(api.deps.READER_SCHEME), the query model the route declares (api/schemas), the read
(api/services/reads.py) and the app's exception handlers for whatever they raise (401, 404, 422, 503 as the
route answers them).

Only a request whose answer cannot differ from the route's is taken: a GET, no root path, an id in the
canonical 8-4-4-4-12 hex form, a query string whose every key is one of the route's parameters, given once,
with values its query model accepts. Everything else, whatever FastAPI would refuse with 422 included, goes
on to the router. The FastAPI routes stay: OpenAPI documents them, and they answer the requests left to
them. The list routes are taken because FastAPI 0.165 inspects every query parameter's annotation again
on each request: answered here, a page costs 0.86-0.87 of its CPU through the router (bench/route_cpu.py).
"""

from __future__ import annotations

import functools
import re
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import READER_SCHEME, Reader
from api.responses import JsonBytes
from api.routes import meetings, projects
from api.routing import API_PREFIX
from api.schemas.meetings import MeetingListQuery
from api.schemas.projects import ProjectListQuery
from api.services import reads

_UUID = "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_PATH = re.compile(f"^{re.escape(API_PREFIX)}/(projects|meetings)/({_UUID})$")
_LIST_PATH = re.compile(f"^{re.escape(API_PREFIX)}/(projects|meetings)$")

Handler = Callable[[Request, Exception], Awaitable[Response]]


@dataclass(frozen=True)
class HotRead:
    route: APIRoute  # what the request context logs and measures the request as
    param: str
    read: Callable[[Reader, uuid.UUID], Awaitable[bytes]]


def _route(router: Any, endpoint: Callable[..., Any]) -> APIRoute:
    found = [r for r in router.routes if isinstance(r, APIRoute) and r.endpoint is endpoint]
    assert len(found) == 1, endpoint
    return found[0]


async def _read_project(reader: Reader, project_id: uuid.UUID) -> bytes:
    return await reads.read_project(reader, project_id=project_id)


async def _read_meeting(reader: Reader, meeting_id: uuid.UUID) -> bytes:
    return await reads.read_meeting(reader, meeting_id=meeting_id)


HOT_READS = {
    "projects": HotRead(_route(projects.router, projects.get_project), "project_id", _read_project),
    "meetings": HotRead(_route(meetings.router, meetings.get_meeting), "meeting_id", _read_meeting),
}


@dataclass(frozen=True)
class HotList:
    route: APIRoute
    query: type[BaseModel]  # the one query model the route declares
    read: Callable[[Reader, Any], Awaitable[bytes]]

    def parse(self, query_string: bytes) -> BaseModel | None:
        """The route's query, read as FastAPI reads it (Starlette's QueryParams, the model in python mode),
        when nothing in it could make FastAPI answer otherwise: else None, and the router answers."""
        items = QueryParams(query_string).multi_items()
        values = dict(items)
        if len(values) != len(items) or not values.keys() <= _names(self.query):
            return None  # a key given twice, or one the route does not read
        try:
            return self.query.model_validate(values)
        except ValidationError:
            return None  # the router's 422


@functools.cache
def _names(model: type[BaseModel]) -> frozenset[str]:
    return frozenset(field.alias or name for name, field in model.model_fields.items())


HOT_LISTS = {
    "projects": HotList(
        _route(projects.router, projects.list_projects), ProjectListQuery, reads.list_projects
    ),
    "meetings": HotList(
        _route(meetings.router, meetings.list_meetings), MeetingListQuery, reads.list_meetings
    ),
}


def exception_handler(handlers: dict[Any, Handler], exc: Exception) -> Handler | None:
    """The handler the app registered for `exc`'s class or its nearest base, as Starlette picks it."""
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    return None


class HotReads:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET" and not scope.get("root_path"):
            path = scope["path"]
            if (match := _PATH.match(path)) is not None:
                hot = HOT_READS[match[1]]
                item_id = uuid.UUID(match[2])
                await _answer(
                    hot.route, {hot.param: match[2]}, lambda r: hot.read(r, item_id), scope, receive, send
                )
                return
            if (match := _LIST_PATH.match(path)) is not None:
                listing = HOT_LISTS[match[1]]
                query = listing.parse(scope["query_string"])
                if query is not None:
                    await _answer(listing.route, {}, lambda r: listing.read(r, query), scope, receive, send)
                    return
        await self.app(scope, receive, send)


async def _answer(
    route: APIRoute,
    path_params: dict[str, str],
    read: Callable[[Reader], Awaitable[bytes]],
    scope: Scope,
    receive: Receive,
    send: Send,
) -> None:
    scope["route"] = route
    scope["path_params"] = path_params
    app = scope["app"]
    try:
        reader = await READER_SCHEME.reader(app.state.resources, _authorization(scope))
        body = await read(reader)
    except Exception as exc:
        handler = exception_handler(app.exception_handlers, exc)
        if handler is None:
            raise  # the request context answers 500 and logs it, as for any route
        request = Request(scope, receive)
        response = await handler(request, exc)
        await response(scope, receive, send)
        return
    # What JsonBytes(body) sends, without building the Response.
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", JSON)]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


JSON = JsonBytes.media_type.encode()


def _authorization(scope: Scope) -> str | None:
    """The Authorization header as Starlette's Headers reads it (the first one, latin-1)."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return str(value.decode("latin-1"))
    return None
