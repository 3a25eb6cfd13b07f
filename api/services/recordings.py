"""Meeting recordings as members play them: the newest recording uploaded to a meeting, read from the
uploads folder (core/uploads.py). Who may play it is decided by the meeting's access check."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from api.ranges import StoredFile
from core.errors import NotFound
from core.models import Transcription
from core.settings import Settings
from core.uploads import uploads_root

# The container PyAV names when it checks an upload (core/audio.py; the first of its aliases) -> the
# type a browser's audio element plays it as.
MEDIA_TYPES = {
    "wav": "audio/wav",
    "mp3": "audio/mpeg",
    "ogg": "audio/ogg",
    "flac": "audio/flac",
    "matroska": "audio/webm",
    "webm": "audio/webm",
    "mov": "audio/mp4",
    "mp4": "audio/mp4",
    "aac": "audio/aac",
    "amr": "audio/amr",
    "asf": "audio/x-ms-wma",
}
UNKNOWN = "application/octet-stream"


def media_type(audio_mime: str | None) -> str:
    """`audio_mime` as stored with the upload, "<container aliases>/<codec>" (e.g. "mov,mp4,m4a/aac")."""
    container = (audio_mime or "").split("/", 1)[0].split(",", 1)[0].strip().lower()
    return MEDIA_TYPES.get(container, UNKNOWN)


def _stat(root: Path, candidates: list[tuple[uuid.UUID, str, str | None]]) -> StoredFile | None:
    for transcription_id, stored_path, audio_mime in candidates:
        path = Path(stored_path).resolve()
        if not path.is_relative_to(root) or not path.is_file():
            continue  # removed, or (never expected) outside the uploads folder
        stat = path.stat()
        return StoredFile(path, stat.st_size, media_type(audio_mime), f'"{transcription_id}"', stat.st_mtime)
    return None


async def find_recording(session: AsyncSession, settings: Settings, *, meeting_id: uuid.UUID) -> StoredFile:
    """The meeting's newest stored recording (a meeting the caller may see: the caller checks)."""
    candidates = (
        await session.execute(
            sa.select(Transcription.id, Transcription.audio_path, Transcription.audio_mime)
            .where(Transcription.meeting_id == meeting_id, Transcription.audio_path.is_not(None))
            .order_by(Transcription.created_at.desc())
        )
    ).tuples()
    rows = [(transcription_id, str(path), mime) for transcription_id, path, mime in candidates]
    found = await asyncio.to_thread(_stat, uploads_root(settings).resolve(), rows)
    if found is None:
        raise NotFound("this meeting has no recording", code="no_recording")
    return found
