"""One-stream tokens for browsers' EventSource (which cannot send an Authorization header): minted for
one user and one stream (a chat answer, a meeting's events), short-lived, and checked the same way for
every stream. A stream route takes such a token or, from other clients, the usual bearer header."""

from __future__ import annotations

import enum
import uuid
from typing import Annotated

import jwt
from fastapi import Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import bearer, current_user
from api.resources import Resources
from core.errors import Unauthorized
from core.models import User
from core.security import LOCAL_ISSUER, create_access_token, decode_local_token

STREAM_TOKEN_TTL = 120


class Stream(enum.StrEnum):
    """What a token opens; its value is the token's audience."""

    CHAT = "v1tr0-stream"
    MEETING_EVENTS = "v1tr0-meeting-events"


def mint_stream_token(resources: Resources, *, user: User, stream: Stream, subject: uuid.UUID) -> str:
    return create_access_token(
        user_id=user.id,
        secret=resources.settings.token_secret(),
        ttl_seconds=STREAM_TOKEN_TTL,
        extra={"aud": stream.value, "typ": "stream", "msg": str(subject)},
    )


async def _token_user(
    session: AsyncSession, resources: Resources, *, token: str, stream: Stream, subject: uuid.UUID
) -> User:
    try:
        claims = decode_local_token(token, secret=resources.settings.token_secret(), audience=stream.value)
    except jwt.InvalidTokenError:
        raise Unauthorized("invalid or expired stream token") from None
    if (
        claims.get("iss") != LOCAL_ISSUER
        or claims.get("typ") != "stream"
        or claims.get("msg") != str(subject)
    ):
        raise Unauthorized("this token is for another stream")
    user = await session.get(User, uuid.UUID(claims["sub"]))
    if user is None or not user.is_active:
        raise Unauthorized("unknown user")
    return user


StreamTokenParam = Annotated[str | None, Query(max_length=2000, description="a one-stream token")]
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


async def stream_user(
    request: Request,
    session: AsyncSession,
    resources: Resources,
    credentials: HTTPAuthorizationCredentials | None,
    token: str | None,
    *,
    stream: Stream,
    subject: uuid.UUID,
) -> User:
    """The caller of a stream route: from its one-stream token when there is one, else the bearer header."""
    if token:
        return await _token_user(session, resources, token=token, stream=stream, subject=subject)
    return await current_user(request, session, resources, credentials)
