"""Baseline for bench/crud.py: a bare Starlette app doing the project reads with psycopg 3 and no auth.

It runs the same SQL the API runs for one project and for a 20-row page of a user's projects (count plus
page), on an async psycopg pool of the same size, and serialises the same fields as JSON. Everything the
API adds on top (auth, access checks, middleware, validation, the ORM) is what the ratio measures.

Configured by the environment: DATABASE_URL (libpq form) and BENCH_USER_ID (whose projects are listed).
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

COLUMNS = (
    "id, title, description, status, progress, priority, start_date, end_date, deadline, budget, "
    "hourly_rate, estimated_hours, actual_hours, client_id, owner_id, created_at, updated_at"
)
ONE_PROJECT = f"SELECT {COLUMNS} FROM projects WHERE id = %s"
VISIBLE = "id IN (SELECT project_id FROM project_members WHERE user_id = %s)"
COUNT_PAGE = f"SELECT count(*) FROM projects WHERE {VISIBLE}"
PAGE = f"SELECT {COLUMNS} FROM projects WHERE {VISIBLE} ORDER BY created_at DESC, id LIMIT %s OFFSET %s"


def _encode(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, dt.date):  # datetimes too
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(type(value).__name__)


def json_response(payload: Any, status: int = 200) -> Response:
    body = json.dumps(payload, default=_encode, ensure_ascii=False, separators=(",", ":"))
    return Response(body, status_code=status, media_type="application/json")


def create_app() -> Starlette:
    user_id = uuid.UUID(os.environ["BENCH_USER_ID"])
    pool = AsyncConnectionPool(
        os.environ["DATABASE_URL"],
        min_size=10,
        max_size=20,
        kwargs={"autocommit": True, "row_factory": dict_row},
        open=False,
    )

    async def get_project(request: Request) -> Response:
        try:
            project_id = uuid.UUID(request.path_params["project_id"])
        except ValueError:
            return json_response({"error": "not found"}, 404)
        async with pool.connection() as conn:
            row = await (await conn.execute(ONE_PROJECT, (project_id,))).fetchone()
        if row is None:
            return json_response({"error": "not found"}, 404)
        return json_response(row)

    async def list_projects(request: Request) -> Response:
        limit = min(int(request.query_params.get("limit", "20")), 100)
        offset = int(request.query_params.get("offset", "0"))
        async with pool.connection() as conn:
            total = await (await conn.execute(COUNT_PAGE, (user_id,))).fetchone()
            rows = await (await conn.execute(PAGE, (user_id, limit, offset))).fetchall()
        assert total is not None
        return json_response({"items": rows, "total": total["count"], "limit": limit, "offset": offset})

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await pool.open(wait=True)
        try:
            yield
        finally:
            await pool.close()

    return Starlette(
        routes=[Route("/projects", list_projects), Route("/projects/{project_id}", get_project)],
        lifespan=lifespan,
    )
