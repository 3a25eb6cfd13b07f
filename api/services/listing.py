"""Pagination and sorting for list endpoints: one count query plus one page query."""

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
    total = await session.scalar(sa.select(sa.func.count()).select_from(query.order_by(None).subquery()))
    rows = await session.scalars(query.order_by(*ordering).limit(limit).offset(offset))
    return list(rows.all()), int(total or 0)
