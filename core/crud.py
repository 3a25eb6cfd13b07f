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
    if not sort:
        return [default]
    descending = sort.startswith("-")
    name = sort.lstrip("-+")
    column = allowed.get(name)
    if column is None:
        raise Invalid(
            f"cannot sort by {name!r}",
            details={"allowed": sorted(allowed)},
            code="invalid_sort",
        )
    return [column.desc() if descending else column.asc(), default]


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
    count = sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    counted = query.add_columns(count.scalar_subquery().label("total_rows"))
    rows = (await session.execute(counted.order_by(*ordering).limit(limit).offset(offset))).all()
    if rows:
        return [row[0] for row in rows], int(rows[0][-1])
    return [], int(await session.scalar(count) or 0) if offset else 0


def apply_changes(row: object, changes: Mapping[str, Any]) -> bool:
    """Set the given attributes on an ORM row; return whether any value actually changed."""
    changed = False
    for field, value in changes.items():
        if getattr(row, field) != value:
            setattr(row, field, value)
            changed = True
    return changed
