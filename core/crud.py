"""List and update helpers every domain's service uses: pagination and sorting (the page and the total
count in one statement), and partial updates that tell whether anything changed (an unchanged row
records no outbox)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import Invalid

T = TypeVar("T")


def order_by(sort: str | None, allowed: Mapping[str, Any], default: Any) -> list[Any]:
    parsed = parse_sort(sort, allowed)
    if parsed is None:
        return [default]
    name, descending = parsed
    column = allowed[name]
    return [column.desc() if descending else column.asc(), default]


def parse_sort(sort: str | None, allowed: Mapping[str, Any]) -> tuple[str, bool] | None:
    """`sort` as (field name, descending), None when not given; Invalid for a field not in `allowed`."""
    if not sort:
        return None
    name = sort.lstrip("-+")
    if name not in allowed:
        raise Invalid(
            f"cannot sort by {name!r}",
            details={"allowed": sorted(allowed)},
            code="invalid_sort",
        )
    return name, sort.startswith("-")


LIKE_ESCAPE = "/"


def like_escaped(text: str) -> str:
    """`text` matched literally by LIKE ... ESCAPE '/' (what SQLAlchemy's autoescape does, for a value
    bound as a parameter of a statement built once)."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


async def fetch_page(
    session: AsyncSession,
    query: sa.Select[tuple[T]],
    *,
    limit: int,
    offset: int,
    ordering: Sequence[Any],
) -> tuple[list[T], int]:
    """One round trip: each row carries the total as an uncorrelated scalar subquery, which PostgreSQL
    runs once (an InitPlan) while the page itself keeps its index-ordered top-N plan — unlike
    `count(*) OVER ()`, which would read every matching row before the LIMIT. Only a page past the end
    (no row to carry it) needs a second query for the total."""
    page, count = paged(query, ordering=ordering)
    rows = (await session.execute(page, {"limit": limit, "offset": offset})).all()
    if rows:
        return [row[0] for row in rows], int(rows[0][-1])
    return [], int(await session.scalar(count) or 0) if offset else 0


TOTAL_ROWS = "total_rows"


def paged(query: sa.Select[Any], *, ordering: Sequence[Any]) -> tuple[sa.Select[Any], sa.Select[tuple[int]]]:
    """fetch_page's statements: the page (:limit rows from :offset on) with every row carrying the total
    as its last column, TOTAL_ROWS; and the total alone, for a page past the end."""
    count = sa.select(sa.func.count().label(TOTAL_ROWS)).select_from(query.order_by(None).subquery())
    counted = query.add_columns(count.scalar_subquery().label(TOTAL_ROWS))
    page = counted.order_by(*ordering).limit(sa.bindparam("limit")).offset(sa.bindparam("offset"))
    return page, count


def apply_changes(row: object, changes: Mapping[str, Any]) -> bool:
    """Set the given attributes on an ORM row; return whether any value actually changed."""
    changed = False
    for field, value in changes.items():
        if getattr(row, field) != value:
            setattr(row, field, value)
            changed = True
    return changed
