"""Jitsi: room tokens (HS256 JWTs for Jitsi's token authentication) and JaaS webhook signatures."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from core.errors import Unauthorized
from core.models import User
from core.settings import JitsiSettings

# A Jitsi server whose clock runs a little behind ours still accepts a token issued just now.
CLOCK_SKEW = timedelta(seconds=30)
SIGNATURE_SCHEME = "v1"


def room_token(
    config: JitsiSettings, *, room_id: str, user: User, moderator: bool, now: datetime | None = None
) -> str | None:
    """A JWT that admits `user` to `room_id`, or None when no Jitsi app id and secret are configured."""
    if not config.app_id or config.app_secret is None:
        return None
    now = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": config.app_id,
        "aud": config.aud,
        "sub": config.room_domain,
        "room": room_id,
        "iat": now,
        "nbf": now - CLOCK_SKEW,
        "exp": now + timedelta(seconds=config.token_ttl),
        "moderator": moderator,
        "context": {
            "user": {
                "id": str(user.id),
                "name": user.full_name or user.email,
                "email": user.email,
                "avatar": user.avatar_url,
                "moderator": moderator,
            }
        },
    }
    return jwt.encode(claims, config.app_secret.get_secret_value(), algorithm="HS256")


def webhook_digest(secret: str, body: bytes, *, timestamp: int) -> bytes:
    """HMAC-SHA256 of f"{timestamp}.{body}", the signed payload of a JaaS webhook."""
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).digest()


def _parse_signature_header(header: str) -> tuple[int | None, list[str]]:
    timestamp: int | None = None
    signatures: list[str] = []
    for element in header.split(","):
        prefix, _, value = element.strip().partition("=")
        if prefix == "t" and value.isdigit():
            timestamp = int(value)
        elif prefix == SIGNATURE_SCHEME and value:
            signatures.append(value)
    # Any other scheme is ignored on purpose, so that a forged weaker one cannot downgrade the check.
    return timestamp, signatures


def _decode_signature(value: str) -> bytes | None:
    """A v1 signature as bytes: hex (64 digits) or base64 (what JaaS sends)."""
    try:
        if len(value) == 2 * hashlib.sha256().digest_size:
            return bytes.fromhex(value)
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return None


def verify_webhook_signature(
    config: JitsiSettings, *, header: str | None, body: bytes, now: datetime | None = None
) -> None:
    """Raise Unauthorized unless `header` ("t=<unix seconds>,v1=<signature>[,v1=...]") signs `body` with
    the configured webhook secret, at a timestamp within `webhook_tolerance` seconds of now."""
    if config.webhook_secret is None:
        raise Unauthorized("Jitsi webhooks are not configured")
    if not header:
        raise Unauthorized("missing webhook signature")
    timestamp, signatures = _parse_signature_header(header)
    if timestamp is None or not signatures:
        raise Unauthorized("malformed webhook signature")
    now = now or datetime.now(UTC)
    if abs(now.timestamp() - timestamp) > config.webhook_tolerance:
        raise Unauthorized("webhook signature timestamp is outside the accepted window")
    expected = webhook_digest(config.webhook_secret.get_secret_value(), body, timestamp=timestamp)
    decoded = (_decode_signature(value) for value in signatures)
    if not any(candidate is not None and hmac.compare_digest(candidate, expected) for candidate in decoded):
        raise Unauthorized("invalid webhook signature")
