"""The hot GET routes without the ORM: a project and a meeting, read and listed.

One or two statements per request on the driver (core/reads.py), built with SQLAlchemy Core from the rules
of api/access.py and the domains' list queries, compiled once per shape. The caller's row comes back with
the data (api.deps.Reader: no separate user lookup), and the rows are validated once into the response
model and serialised straight to JSON bytes, which the route sends as they are."""

from __future__ import annotations

import functools
import uuid
from typing import Any, Generic, Literal, TypeVar

import sqlalchemy as sa
from psycopg.rows import DictRow
from pydantic import BaseModel, TypeAdapter

from api.access import (
    CALLER_ACTIVE,
    CALLER_ADMIN,
    caller,
    caller_project_visible,
    caller_visible_project_ids,
    caller_with_meeting,
    caller_with_project,
    granted_from,
)
from api.deps import Reader, check_caller
from api.schemas.common import Page, PageParams
from api.schemas.meetings import MeetingListQuery, MeetingRead
from api.schemas.projects import ProjectListQuery, ProjectRead
from api.services.projects import PROJECT_FILTERS, PROJECT_SORTS, projects_query
from core.crud import TOTAL_ROWS, like_escaped, paged, parse_sort
from core.models import Meeting, Project
from core.reads import DriverReads, Statement, driver_reads
from meetings.service import MEETING_FILTERS, MEETING_SORTS, meetings_query

M = TypeVar("M")


class JsonBody(Generic[M]):
    """Rows (dicts) validated into `model` once, then dumped as FastAPI would dump `model` (by alias)."""

    def __init__(self, model: type[M]) -> None:
        self._adapter: TypeAdapter[M] = TypeAdapter(model)

    def __call__(self, data: Any) -> bytes:
        return self._adapter.dump_json(self._adapter.validate_python(data), by_alias=True)


def _columns(model: type[BaseModel], entity: type[Any]) -> list[sa.ColumnElement[Any]]:
    """The columns (or SQL expressions) of `entity` that `model` shows, labelled with the field names."""
    return [getattr(entity, name).label(name) for name in model.model_fields]


PROJECT_COLUMNS = _columns(ProjectRead, Project)
MEETING_COLUMNS = _columns(MeetingRead, Meeting)

_CALLER = Statement.of(caller())
_CALLER_WITH_PROJECT = Statement.of(caller_with_project())
_PROJECT = Statement.of(caller_with_project(*PROJECT_COLUMNS))
_MEETING = Statement.of(caller_with_meeting(*MEETING_COLUMNS))

_project_json = JsonBody(ProjectRead)
_project_page_json = JsonBody(Page[ProjectRead])
_meeting_json = JsonBody(MeetingRead)
_meeting_page_json = JsonBody(Page[MeetingRead])


async def read_project(reader: Reader, *, project_id: uuid.UUID) -> bytes:
    async with driver_reads(reader.engine) as db:
        row = _from_caller(await db.one(_PROJECT, {"user_id": reader.user_id, "project_id": project_id}))
    granted_from(row)
    return _project_json(row)


async def list_projects(reader: Reader, query: ProjectListQuery) -> bytes:
    values = {
        "status": query.status_.value if query.status_ else None,
        "priority": query.priority.value if query.priority else None,
        "client_id": query.client_id,
        "q": like_escaped(query.q) if query.q else None,
    }
    params = _params(reader, values, limit=query.limit, offset=query.offset)
    async with driver_reads(reader.engine) as db:
        row = _from_caller(await db.one(_CALLER, params))
        page, count = _project_page(row[CALLER_ADMIN], _given(values), _sort_key(query.sort, PROJECT_SORTS))
        rows, total = await _page(db, page, count, params)
    return _project_page_json(_page_of(rows, total, query))


async def read_meeting(reader: Reader, *, meeting_id: uuid.UUID) -> bytes:
    async with driver_reads(reader.engine) as db:
        row = _from_caller(await db.one(_MEETING, {"user_id": reader.user_id, "meeting_id": meeting_id}))
    granted_from(row, what="meeting")
    return _meeting_json(row)


async def list_meetings(reader: Reader, query: MeetingListQuery) -> bytes:
    """The meetings of one project (if visible: else not found), of every project the caller sees, or
    (admins) all of them: api.access.project_scope's rule."""
    values = {
        "status": query.status_.value if query.status_ else None,
        "starts_after": query.starts_after,
        "starts_before": query.starts_before,
    }
    params = _params(reader, values, limit=query.limit, offset=query.offset, project_id=query.project_id)
    scope: _Scope
    async with driver_reads(reader.engine) as db:
        if query.project_id is not None:
            granted_from(_from_caller(await db.one(_CALLER_WITH_PROJECT, params)))
            scope = "project"
        else:
            row = _from_caller(await db.one(_CALLER, params))
            scope = "all" if row[CALLER_ADMIN] else "visible"
        page, count = _meeting_page(scope, _given(values), _sort_key(query.sort, MEETING_SORTS))
        rows, total = await _page(db, page, count, params)
    return _meeting_page_json(_page_of(rows, total, query))


def _page_of(rows: list[DictRow], total: int, query: PageParams) -> dict[str, Any]:
    return {"items": rows, "total": total, "limit": query.limit, "offset": query.offset}


_Scope = Literal["project", "visible", "all"]


def _from_caller(row: DictRow | None) -> DictRow:
    """A caller statement's row, once its caller exists and is active (else 401)."""
    check_caller(None if row is None else row[CALLER_ACTIVE])
    assert row is not None
    return row


def _params(reader: Reader, values: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "user_id": reader.user_id,
        **more,
        **{name: value for name, value in values.items() if value is not None},
    }


def _given(values: dict[str, Any]) -> frozenset[str]:
    return frozenset(name for name, value in values.items() if value is not None)


def _sort_key(sort: str | None, allowed: dict[str, Any]) -> str | None:
    """`sort` checked (Invalid for an unknown field) and in one spelling per meaning: a cache key."""
    parsed = parse_sort(sort, allowed)
    return None if parsed is None else ("-" if parsed[1] else "") + parsed[0]


async def _page(
    db: DriverReads, page: Statement, count: Statement, params: dict[str, Any]
) -> tuple[list[DictRow], int]:
    """core.crud.fetch_page on the driver: the rows, each with the total; past the end, the total alone."""
    rows = await db.all(page, params)
    if rows:
        return rows, int(rows[0][TOTAL_ROWS])
    if not params["offset"]:
        return [], 0
    total = await db.one(count, params)
    return [], int(total[TOTAL_ROWS]) if total else 0


@functools.cache
def _project_page(is_admin: bool, filters: frozenset[str], sort: str | None) -> tuple[Statement, Statement]:
    assert filters <= set(PROJECT_FILTERS)
    query, ordering = projects_query(
        *PROJECT_COLUMNS, visible=caller_project_visible(is_admin=is_admin), filters=filters, sort=sort
    )
    page, count = paged(query, ordering=ordering)
    return Statement.of(page), Statement.of(count)


@functools.cache
def _meeting_page(scope: _Scope, filters: frozenset[str], sort: str | None) -> tuple[Statement, Statement]:
    assert filters <= set(MEETING_FILTERS)
    condition = {
        "project": Meeting.project_id == sa.bindparam("project_id"),
        "visible": Meeting.project_id.in_(caller_visible_project_ids(is_admin=False)),
        "all": None,
    }[scope]
    query, ordering = meetings_query(*MEETING_COLUMNS, scope=condition, filters=filters, sort=sort)
    page, count = paged(query, ordering=ordering)
    return Statement.of(page), Statement.of(count)
