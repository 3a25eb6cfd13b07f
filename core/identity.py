"""Bearer token verification: our own local tokens, and Supabase Auth tokens (HS256 secret or JWKS)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

from core.errors import Unauthorized
from core.security import LOCAL_ISSUER, decode_local_token
from core.settings import Settings

ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")
VERIFIED_TOKENS_KEPT = 10_000


@dataclass(frozen=True)
class Identity:
    """Who a verified token says the caller is."""

    provider: str  # "local" or "supabase"
    subject: str
    email: str | None
    name: str | None = None
    avatar_url: str | None = None


class JWKSCache:
    """Keys of the Supabase project, fetched over HTTP, cached, and refetched on an unknown `kid`."""

    def __init__(self, url: str, client: httpx.AsyncClient, ttl: float) -> None:
        self.url = url
        self.client = client
        self.ttl = ttl
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")
        self._kid_refetched_at = float("-inf")
        self._lock = asyncio.Lock()
        self._kid_refetch_interval = 5.0

    async def key(self, kid: str) -> jwt.PyJWK:
        async with self._lock:
            now = time.monotonic()
            if now - self._fetched_at >= self.ttl:
                await self._refresh()
            elif kid not in self._keys and now - self._kid_refetched_at >= self._kid_refetch_interval:
                # A key rotation: refetch at once, but however many unknown kids arrive (a forger can send
                # any), at most once every few seconds.
                self._kid_refetched_at = now
                await self._refresh()
        if kid not in self._keys:
            raise Unauthorized("unknown signing key")
        return self._keys[kid]

    async def _refresh(self) -> None:
        try:
            response = await self.client.get(self.url, timeout=5.0)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            if self._keys:
                return  # keep serving the keys we have
            raise Unauthorized("cannot fetch signing keys") from exc
        self._keys = _signing_keys(document)
        self._fetched_at = time.monotonic()


def _signing_keys(document: Any) -> dict[str, jwt.PyJWK]:
    """The usable signing keys of a JWKS document by `kid`; a key we cannot read is skipped, not fatal."""
    entries = document.get("keys") if isinstance(document, dict) else None
    keys: dict[str, jwt.PyJWK] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("kid"), str):
            continue
        if entry.get("use", "sig") != "sig":
            continue
        try:
            keys[entry["kid"]] = jwt.PyJWK(entry)
        except jwt.PyJWTError:
            continue
    return keys


class TokenVerifier:
    def __init__(self, settings: Settings, http: httpx.AsyncClient) -> None:
        self.settings = settings
        self.local_secret = settings.token_secret()
        jwks_url = settings.auth.supabase_jwks_url
        self.jwks = JWKSCache(jwks_url, http, settings.auth.jwks_cache_ttl) if jwks_url else None
        # Local access tokens already verified, with their expiry. A client sends the same token on every
        # request until it expires, and checking its signature and claims again costs more than a cached
        # read. Only local tokens: their key cannot change while the process runs (JWKS keys can).
        self._verified_local: dict[str, tuple[Identity, float]] = {}

    async def verify(self, token: str) -> Identity:
        cached = self._verified_local.get(token)
        if cached is not None:
            identity, expires_at = cached
            if time.time() < expires_at:
                return identity
            del self._verified_local[token]
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.InvalidTokenError:
            raise Unauthorized("malformed token") from None
        if unverified.get("iss") == LOCAL_ISSUER:
            try:
                claims = decode_local_token(token, secret=self.local_secret)
            except jwt.InvalidTokenError as exc:
                raise Unauthorized(_reason(exc)) from None
            if claims.get("typ", "access") != "access":
                raise Unauthorized("not an access token")
            identity = Identity(provider="local", subject=claims["sub"], email=None)
            self._remember_local(token, identity, float(claims["exp"]))
            return identity
        return await self._verify_supabase(token, header)

    def _remember_local(self, token: str, identity: Identity, expires_at: float) -> None:
        if len(self._verified_local) >= VERIFIED_TOKENS_KEPT:
            del self._verified_local[next(iter(self._verified_local))]  # the oldest entry
        self._verified_local[token] = (identity, expires_at)

    async def _verify_supabase(self, token: str, header: dict[str, Any]) -> Identity:
        auth = self.settings.auth
        issuer = auth.supabase_expected_issuer
        algorithm = header.get("alg")
        key: Any
        if algorithm == "HS256" and auth.supabase_jwt_secret is not None:
            key = auth.supabase_jwt_secret.get_secret_value()
        elif algorithm in ASYMMETRIC_ALGORITHMS and self.jwks is not None:
            jwk = await self.jwks.key(str(header.get("kid", "")))
            # The key decides the algorithm: an RS256 key must not verify a token that claims ES256.
            if jwk.algorithm_name != algorithm:
                raise Unauthorized("token algorithm does not match its signing key")
            key = jwk.key
        else:
            raise Unauthorized("token issuer not accepted")
        required = ["exp", "sub", "aud"] + (["iss"] if issuer else [])
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=auth.supabase_audience,
                issuer=issuer,
                options={"require": required},
                leeway=5,
            )
        except jwt.InvalidTokenError as exc:
            raise Unauthorized(_reason(exc)) from None
        metadata = claims.get("user_metadata") or {}
        return Identity(
            provider="supabase",
            subject=str(claims["sub"]),
            email=(claims.get("email") or None),
            name=metadata.get("full_name") or metadata.get("name"),
            avatar_url=metadata.get("avatar_url"),
        )


def _reason(exc: jwt.InvalidTokenError) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "token expired"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "token audience not accepted"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "token issuer not accepted"
    if isinstance(exc, jwt.InvalidSignatureError):
        return "token signature invalid"
    return "invalid token"
