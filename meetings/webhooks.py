"""Jitsi-as-a-Service webhooks: verified, applied once per event id, marking recordings and transcripts."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import BadRequest
from core.models import Meeting, WebhookEvent
from core.settings import JitsiSettings
from meetings.jitsi import verify_webhook_signature

PROVIDER = "jitsi"
RECORDING_UPLOADED = "RECORDING_UPLOADED"
TRANSCRIPTION_UPLOADED = "TRANSCRIPTION_UPLOADED"
AVAILABLE = "available"
# Where JaaS puts the download link of an uploaded file (it lasts 24 h; other keys for self-hosted senders).
LINK_KEYS = ("preAuthenticatedLink", "link", "url")
MAX_URL_LENGTH = 2048


class WebhookOutcome(enum.StrEnum):
    PROCESSED = "processed"
    DUPLICATE = "duplicate"
    IGNORED = "ignored"


@dataclass(frozen=True)
class JitsiEvent:
    id: str
    type: str
    payload: dict[str, Any]


def _parse_event(body: bytes) -> JitsiEvent:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise BadRequest("webhook body is not valid JSON", code="malformed_json") from None
    if not isinstance(payload, dict):
        raise BadRequest("webhook body must be a JSON object", code="malformed_json")
    event_id = payload.get("idempotencyKey") or payload.get("id")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= 200:
        raise BadRequest("webhook event has no id (idempotencyKey)", code="invalid_event")
    event_type = payload.get("eventType")
    if not isinstance(event_type, str) or not 0 < len(event_type) <= 100:
        raise BadRequest("webhook event has no eventType", code="invalid_event")
    return JitsiEvent(id=event_id, type=event_type, payload=payload)


def _room_name(event: dict[str, Any]) -> str | None:
    """The room of an event: `fqn` ("<app id>/<room>") or `room`, at the top level or under `data`."""
    data = event.get("data")
    for source in (event, data if isinstance(data, dict) else {}):
        fqn = source.get("fqn")
        if isinstance(fqn, str) and fqn:
            return fqn.rsplit("/", 1)[-1]
        room = source.get("room")
        if isinstance(room, str) and room:
            return room
    return None


def _download_link(event: dict[str, Any]) -> str | None:
    data = event.get("data")
    if not isinstance(data, dict):
        return None
    for key in LINK_KEYS:
        link = data.get(key)
        if isinstance(link, str) and link.startswith(("https://", "http://")) and len(link) <= MAX_URL_LENGTH:
            return link
    return None


async def handle_jitsi_webhook(
    session: AsyncSession,
    *,
    config: JitsiSettings,
    body: bytes,
    signature: str | None,
    now: datetime | None = None,
) -> WebhookOutcome:
    verify_webhook_signature(config, header=signature, body=body, now=now)
    event = _parse_event(body)
    # ON CONFLICT rather than a lookup first: two deliveries of one event at once apply it once.
    stored = await session.scalar(
        insert(WebhookEvent)
        .values(provider=PROVIDER, event_id=event.id, event_type=event.type, payload=event.payload)
        .on_conflict_do_nothing(index_elements=[WebhookEvent.event_id])
        .returning(WebhookEvent.id)
    )
    if stored is None:
        return WebhookOutcome.DUPLICATE
    if event.type not in (RECORDING_UPLOADED, TRANSCRIPTION_UPLOADED):
        return WebhookOutcome.IGNORED
    room = _room_name(event.payload)
    meeting = (
        await session.scalar(sa.select(Meeting).where(Meeting.room_id == room).with_for_update(of=Meeting))
        if room
        else None
    )
    if meeting is None:
        return WebhookOutcome.IGNORED
    link = _download_link(event.payload)
    if event.type == RECORDING_UPLOADED:
        meeting.recording_status = AVAILABLE
        meeting.recording_url = link or meeting.recording_url
    else:
        meeting.transcript_status = AVAILABLE
        meeting.transcript_url = link or meeting.transcript_url
    await session.flush()
    return WebhookOutcome.PROCESSED
