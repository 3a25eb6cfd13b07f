"""One-stream tokens for browsers' EventSource and media elements (which cannot send an Authorization
header): minted for one user and one stream (a chat answer, a meeting's events, an event feed, a
meeting's recording), short-lived, and checked the same way for every stream. A stream route takes such a
token or, from other clients, the usual bearer header."""

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
    FEED = "v1tr0-feed"  # subject: the project, or the user for the feed of all their projects
    RECORDING = "v1tr0-recording"  # subject: the meeting


def stream_token_ttl(resources: Resources, stream: Stream) -> int:
    """Seconds a token opens its stream. A media element asks again for byte ranges while it plays and
    seeks, for as long as the page is open: a recording's token lasts as long as an access token."""
    if stream == Stream.RECORDING:
        return resources.settings.auth.access_token_ttl
    return STREAM_TOKEN_TTL


def mint_stream_token(resources: Resources, *, user: User, stream: Stream, subject: uuid.UUID) -> str:
    return create_access_token(
        user_id=user.id,
        secret=resources.settings.token_secret(),
        ttl_seconds=stream_token_ttl(resources, stream),
        extra={"aud": stream.value, "typ": "stream", "msg": str(subject)},
    )


async def _token_user(
    session: AsyncSession, resources: Resources, *, token: str, stream: Stream, subject: uuid.UUID | None
) -> User:
    try:
        claims = decode_local_token(token, secret=resources.settings.token_secret(), audience=stream.value)
    except jwt.InvalidTokenError:
        raise Unauthorized("invalid or expired stream token") from None
    expected = str(subject) if subject is not None else claims.get("sub")
    if claims.get("iss") != LOCAL_ISSUER or claims.get("typ") != "stream" or claims.get("msg") != expected:
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
    subject: uuid.UUID | None,
) -> User:
    """The caller of a stream route: from its one-stream token when there is one, else the bearer header.
    `subject` None: a stream of the caller's own (the feed of all their projects), minted for themselves."""
    if token:
        return await _token_user(session, resources, token=token, stream=stream, subject=subject)
    return await current_user(request, session, resources, credentials)
