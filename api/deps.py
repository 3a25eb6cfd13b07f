"""Request dependencies: the per-request transaction, the resources and the authenticated user."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

import sqlalchemy as sa
from arq.connections import ArqRedis
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.base import SecurityBase
from fastapi.security.utils import get_authorization_scheme_param
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from api.access import load_user_with_access
from api.resources import Resources
from api.services import users as user_service
from core.errors import Forbidden, Unauthorized
from core.identity import Identity
from core.models import Outbox, User
from core.outbox import pop_after_commit, written_rows
from core.settings import Settings
from ingestion.dispatcher import enqueue


async def get_resources(request: Request) -> Resources:
    resources: Resources = request.app.state.resources
    return resources


ResourcesDep = Annotated[Resources, Depends(get_resources)]


async def get_settings(resources: ResourcesDep) -> Settings:
    return resources.settings


async def get_redis(resources: ResourcesDep) -> ArqRedis:
    return resources.redis


SettingsDep = Annotated[Settings, Depends(get_settings)]
RedisDep = Annotated[ArqRedis, Depends(get_redis)]
log = logging.getLogger("v1tr0.api")
NUDGE_TIMEOUT = 0.5


READ_ONLY_METHODS = frozenset({"GET", "HEAD"})


async def get_session(request: Request, resources: ResourcesDep) -> AsyncIterator[AsyncSession]:
    """One transaction per request: committed when the route returns, rolled back when it raises.

    GET and HEAD only read: their session runs in autocommit, which saves the BEGIN and COMMIT round
    trips (the only write a GET may cause, provisioning a Supabase user, takes its own transaction).
    After a commit that wrote outbox rows, their jobs are enqueued at once (the worker's sweep would
    find them within a second anyway, and does when Redis is unreachable now)."""
    read_only = request.method in READ_ONLY_METHODS
    factory = resources.read_sessionmaker if read_only else resources.sessionmaker
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        rows = written_rows(session)
        if rows:
            await nudge_dispatcher(resources.redis, rows)
        for action in pop_after_commit(session):
            try:
                await asyncio.wait_for(action(), NUDGE_TIMEOUT)
            except Exception:  # best effort by contract; the worker's sweeps catch up
                log.warning("an after-commit action failed", exc_info=True)


async def nudge_dispatcher(redis: ArqRedis, rows: list[Outbox]) -> None:
    try:
        await asyncio.wait_for(enqueue(redis, [(row.id, row.dispatches or 0) for row in rows]), NUDGE_TIMEOUT)
    except Exception:  # the outbox keeps the rows; the worker's sweep enqueues them
        log.warning("could not enqueue ingestion jobs now; the worker will pick them up", exc_info=True)


# scope="function": the commit happens before the response is sent, so a client that reads right after
# a 2xx always sees its write.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]

# Built once, so every request reuses its cache key and compiled SQL (session.get rebuilds both).
USER_BY_ID = sa.select(User).where(User.id == sa.bindparam("user_id"))
USER_BY_SUBJECT = sa.select(User).where(User.supabase_id == sa.bindparam("subject"))

bearer = HTTPBearer(auto_error=False, description="Access token from /auth/login or Supabase Auth")


def _path_project_id(request: Request) -> uuid.UUID | None:
    """The project a request is about: `{project_id}` in its path, else `?project_id=` (meeting lists)."""
    value = request.path_params.get("project_id") or request.query_params.get("project_id")
    try:
        return uuid.UUID(value) if isinstance(value, str) else None
    except ValueError:
        return None  # FastAPI answers 422 for it


BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def verified_identity(resources: Resources, token: str | None) -> Identity:
    if not token:
        raise Unauthorized("missing bearer token")
    return await resources.verifier.verify(token)


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header, read as HTTPBearer reads it, without the
    pydantic model HTTPBearer builds for it (4 % of a project read's CPU)."""
    scheme, token = get_authorization_scheme_param(authorization)
    return token if scheme.lower() == "bearer" and token else None


def local_user_id(identity: Identity) -> uuid.UUID:
    try:
        return uuid.UUID(identity.subject)
    except ValueError:
        raise Unauthorized("invalid token") from None


def check_caller(is_active: bool | None) -> None:
    """A valid token's user must still exist (`is_active` None: it does not) and be active."""
    if is_active is None:
        raise Unauthorized("unknown user")
    if not is_active:
        raise Unauthorized("account disabled")


async def external_user(session: AsyncSession, resources: Resources, identity: Identity) -> User | None:
    """The user of a Supabase identity, created on first sight."""
    user = await session.scalar(USER_BY_SUBJECT, {"subject": identity.subject})
    if user is None:
        # Created in a transaction of its own: it holds a lock and may be a GET's. The request's
        # connection goes back to the pool first: holding it while waiting for a second one would let a
        # burst of new users exhaust the pool.
        await session.rollback()
        async with resources.sessionmaker() as own, own.begin():
            created = await user_service.provision_external_user(
                own, identity=identity, admin_emails=resources.settings.auth.admin_emails
            )
        user = await session.scalar(USER_BY_ID, {"user_id": created.id})  # None: deleted meanwhile
    return user


async def current_user(
    request: Request, session: SessionDep, resources: ResourcesDep, credentials: BearerCredentials
) -> User:
    identity = await verified_identity(resources, credentials.credentials if credentials else None)
    if identity.provider == "local":
        user_id = local_user_id(identity)
        project_id = _path_project_id(request)
        if project_id is not None:  # the access check of the route comes in the same statement
            user = await load_user_with_access(session, user_id, project_id)
        else:
            user = await session.scalar(USER_BY_ID, {"user_id": user_id})
    else:
        user = await external_user(session, resources, identity)
    check_caller(None if user is None else user.is_active)
    assert user is not None
    return user


CurrentUser = Annotated[User, Depends(current_user)]


@dataclass(frozen=True, slots=True)
class Reader:
    """The caller of a hot GET route (api/services/reads.py), whose token is verified but whose row is
    read by the route's own statement, together with what it asks for: one round trip, no session."""

    engine: AsyncEngine
    user_id: uuid.UUID


class ReaderScheme(SecurityBase):
    """The hot GET routes' one dependency: the bearer scheme itself (so OpenAPI shows the same security
    as `bearer`'s routes), which also verifies the token. FastAPI resolves each level of dependencies at
    a cost: one level instead of `bearer` under a `reader` is ~10 % of a project read's CPU."""

    def __init__(self, scheme: HTTPBearer) -> None:
        self.model = scheme.model
        self.scheme_name = scheme.scheme_name

    async def __call__(self, request: Request) -> Reader:
        return await self.reader(request.app.state.resources, request.headers.get("authorization"))

    @staticmethod
    async def reader(resources: Resources, authorization: str | None) -> Reader:
        """The caller of an `Authorization` header (api/hot.py calls this without a Request)."""
        identity = await verified_identity(resources, bearer_token(authorization))
        if identity.provider == "local":
            return Reader(resources.engine, local_user_id(identity))
        async with resources.read_sessionmaker() as session:
            user = await external_user(session, resources, identity)
        check_caller(None if user is None else user.is_active)
        assert user is not None
        return Reader(resources.engine, user.id)


READER_SCHEME = ReaderScheme(bearer)  # also api/hot.py's, which answers two routes below the router
ReaderDep = Annotated[Reader, Depends(READER_SCHEME)]


async def admin_user(user: CurrentUser) -> User:
    if not user.is_admin:
        raise Forbidden("admin only")
    return user


AdminUser = Annotated[User, Depends(admin_user)]
