"""Clients: visible to admins, to whoever created them, and to members of their projects."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from api.access import visible_project_ids
from api.schemas.clients import ClientCreate, ClientUpdate
from core.crud import fetch_page, order_by
from core.errors import Conflict, Forbidden, NotFound
from core.models import Client, ClientStatus, Priority, Project, User

CLIENT_SORTS = {
    "name": Client.name,
    "company": Client.company,
    "created_at": Client.created_at,
    "status": Client.status,
    "priority": Client.priority,
}


def _visible(user: User) -> sa.ColumnElement[bool]:
    if user.is_admin:
        return sa.true()
    via_projects = sa.select(Project.client_id).where(Project.id.in_(visible_project_ids(user)))
    return sa.or_(Client.created_by_id == user.id, Client.id.in_(via_projects))


async def get_client(session: AsyncSession, *, actor: User, client_id: uuid.UUID) -> Client:
    client = await session.scalar(sa.select(Client).where(Client.id == client_id, _visible(actor)))
    if client is None:
        raise NotFound("client not found")
    return client


async def list_clients(
    session: AsyncSession,
    *,
    actor: User,
    limit: int,
    offset: int,
    sort: str | None,
    status: ClientStatus | None = None,
    priority: Priority | None = None,
    q: str | None = None,
) -> tuple[list[Client], int]:
    query = sa.select(Client).where(_visible(actor))
    if status:
        query = query.where(Client.status == status)
    if priority:
        query = query.where(Client.priority == priority)
    if q:
        query = query.where(
            sa.or_(Client.name.icontains(q, autoescape=True), Client.company.icontains(q, autoescape=True))
        )
    return await fetch_page(
        session, query, limit=limit, offset=offset, ordering=order_by(sort, CLIENT_SORTS, Client.id)
    )


async def create_client(session: AsyncSession, *, actor: User, data: ClientCreate) -> Client:
    client = Client(**data.model_dump(exclude_none=True), created_by_id=actor.id)
    session.add(client)
    await session.flush()
    return client


def _may_edit(actor: User, client: Client) -> None:
    if not (actor.is_admin or client.created_by_id == actor.id):
        raise Forbidden("only the client's creator or an admin can change it")


async def update_client(
    session: AsyncSession, *, actor: User, client_id: uuid.UUID, data: ClientUpdate
) -> Client:
    client = await get_client(session, actor=actor, client_id=client_id)
    _may_edit(actor, client)
    for field, value in data.model_dump(exclude_unset=True).items():
        setattr(client, field, value)
    await session.flush()
    return client


async def delete_client(session: AsyncSession, *, actor: User, client_id: uuid.UUID) -> None:
    client = await get_client(session, actor=actor, client_id=client_id)
    _may_edit(actor, client)
    if await session.scalar(sa.select(sa.exists().where(Project.client_id == client.id))):
        raise Conflict("the client still has projects; move or delete them first", code="client_in_use")
    await session.delete(client)
    await session.flush()


async def client_projects(
    session: AsyncSession, *, actor: User, client_id: uuid.UUID, limit: int, offset: int
) -> tuple[list[Project], int]:
    await get_client(session, actor=actor, client_id=client_id)
    query = sa.select(Project).where(
        Project.client_id == client_id, Project.id.in_(visible_project_ids(actor))
    )
    return await fetch_page(
        session, query, limit=limit, offset=offset, ordering=[Project.created_at.desc(), Project.id]
    )
