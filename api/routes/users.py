"""Users: admins manage everyone; anyone reads and updates their own record."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, status

from api.deps import AdminUser, CurrentUser, SessionDep
from api.routing import ApiRouter
from api.schemas.common import Page, PageParams
from api.schemas.users import UserCreate, UserRead, UserStats, UserUpdate
from api.services import users as service

router = ApiRouter(prefix="/users", tags=["users"])


@router.get("", response_model=Page[UserRead])
async def list_users(
    session: SessionDep,
    admin: AdminUser,
    page: Annotated[PageParams, Query()],
    q: Annotated[str | None, Query(max_length=200)] = None,
    is_active: bool | None = None,
) -> object:
    items, total = await service.list_users(
        session, limit=page.limit, offset=page.offset, sort=page.sort, q=q, is_active=is_active
    )
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=UserRead)
async def create_user(body: UserCreate, session: SessionDep, admin: AdminUser) -> object:
    return await service.create_user(session, data=body)


@router.get("/{user_id}", response_model=UserRead)
async def get_user(user_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> object:
    return await service.get_user(session, actor=user, user_id=user_id)


@router.put("/{user_id}", response_model=UserRead)
async def update_user(user_id: uuid.UUID, body: UserUpdate, session: SessionDep, user: CurrentUser) -> object:
    return await service.update_user(session, actor=user, user_id=user_id, data=body)


@router.delete("/{user_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_user(user_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> None:
    await service.delete_user(session, actor=user, user_id=user_id)


@router.get("/{user_id}/stats", response_model=UserStats)
async def user_stats(user_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> object:
    return await service.user_stats(session, actor=user, user_id=user_id)
