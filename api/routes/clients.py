"""Clients of the agency."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Query, status

from api.deps import CurrentUser, SessionDep
from api.routing import ApiRouter
from api.schemas.clients import ClientCreate, ClientRead, ClientUpdate
from api.schemas.common import Page, PageParams
from api.schemas.projects import ProjectRead
from api.services import clients as service
from core.models import ClientStatus, Priority

router = ApiRouter(prefix="/clients", tags=["clients"])


@router.get("", response_model=Page[ClientRead])
async def list_clients(
    session: SessionDep,
    user: CurrentUser,
    page: Annotated[PageParams, Query()],
    status_: Annotated[ClientStatus | None, Query(alias="status")] = None,
    priority: Priority | None = None,
    q: Annotated[str | None, Query(max_length=200, description="name or company contains")] = None,
) -> object:
    items, total = await service.list_clients(
        session,
        actor=user,
        limit=page.limit,
        offset=page.offset,
        sort=page.sort,
        status=status_,
        priority=priority,
        q=q,
    )
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ClientRead)
async def create_client(body: ClientCreate, session: SessionDep, user: CurrentUser) -> object:
    return await service.create_client(session, actor=user, data=body)


@router.get("/{client_id}", response_model=ClientRead)
async def get_client(client_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> object:
    return await service.get_client(session, actor=user, client_id=client_id)


@router.put("/{client_id}", response_model=ClientRead)
async def update_client(
    client_id: uuid.UUID, body: ClientUpdate, session: SessionDep, user: CurrentUser
) -> object:
    return await service.update_client(session, actor=user, client_id=client_id, data=body)


@router.delete("/{client_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_client(client_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> None:
    await service.delete_client(session, actor=user, client_id=client_id)


@router.get("/{client_id}/projects", response_model=Page[ProjectRead])
async def client_projects(
    client_id: uuid.UUID, session: SessionDep, user: CurrentUser, page: Annotated[PageParams, Query()]
) -> object:
    items, total = await service.client_projects(
        session, actor=user, client_id=client_id, limit=page.limit, offset=page.offset
    )
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)
