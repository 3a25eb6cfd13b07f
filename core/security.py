"""Password hashing (argon2id) and the local identity provider's tokens."""

from __future__ import annotations

import hashlib
import secrets
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

LOCAL_ISSUER = "v1tr0"
LOCAL_AUDIENCE = "v1tr0-api"

_hasher = PasswordHasher()
# A real hash to verify against when the user does not exist, so timing does not reveal accounts.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def create_access_token(
    *, user_id: uuid.UUID, secret: str, ttl_seconds: int, extra: dict[str, Any] | None = None
) -> str:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": LOCAL_ISSUER,
        "aud": LOCAL_AUDIENCE,
        "sub": str(user_id),
        "iat": now,
        "nbf": now,
        "exp": now + timedelta(seconds=ttl_seconds),
        "jti": secrets.token_hex(8),
    }
    claims.update(extra or {})
    return jwt.encode(claims, secret, algorithm="HS256")


def decode_local_token(token: str, *, secret: str, audience: str = LOCAL_AUDIENCE) -> dict[str, Any]:
    """Raises jwt.InvalidTokenError on any problem."""
    claims: dict[str, Any] = jwt.decode(
        token,
        secret,
        algorithms=["HS256"],
        audience=audience,
        issuer=LOCAL_ISSUER,
        options={"require": ["exp", "sub", "iss", "aud"]},
    )
    return claims


def new_refresh_token() -> tuple[str, str]:
    """A random opaque token and the hash that is stored."""
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def configure_hasher(*, time_cost: int, memory_cost: int, parallelism: int) -> None:
    """Change the KDF cost (tests use a cheap one; production keeps argon2's defaults)."""
    global _hasher, _DUMMY_HASH
    _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism)
    _DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))
