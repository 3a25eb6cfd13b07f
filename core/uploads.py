"""Stored recordings: where they live, and removing them when their meeting or transcription is gone.

An uploaded recording is kept as `{data_dir}/uploads/{meeting_id}/{transcription_id}.bin` while its
transcription needs it. Deleting a meeting (or its project) removes the meeting's folder right after the
commit; a sweep in the worker removes whatever that missed (a crash between commit and removal, an
upload whose request failed after the file was written), so a deleted meeting's audio never stays behind.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Meeting, Transcription
from core.outbox import after_commit
from core.settings import Settings

log = logging.getLogger("v1tr0.uploads")

# An upload is written before its transcription row commits: a file younger than this is left alone.
ORPHAN_GRACE_SECONDS = 3600.0


def uploads_root(settings: Settings) -> Path:
    return settings.data_dir.resolve() / "uploads"


def recording_path(settings: Settings, meeting_id: uuid.UUID, transcription_id: uuid.UUID) -> Path:
    return uploads_root(settings) / str(meeting_id) / f"{transcription_id}.bin"


RECORDING_AVAILABLE = "available"


def recording_url(meeting_id: uuid.UUID) -> str:
    """Where members play a meeting's uploaded recording: the API route that streams it
    (`GET /api/v1/meetings/{id}/recording`), stored as the meeting's `recording_url`."""
    return f"/api/v1/meetings/{meeting_id}/recording"


def _remove_meeting_folders(root: Path, meeting_ids: Iterable[uuid.UUID]) -> int:
    removed = 0
    for meeting_id in meeting_ids:
        folder = root / str(meeting_id)
        if folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


async def remove_meeting_uploads(settings: Settings, meeting_ids: Iterable[uuid.UUID]) -> int:
    """Delete the stored recordings of these meetings (after their rows are gone)."""
    return await asyncio.to_thread(_remove_meeting_folders, uploads_root(settings), list(meeting_ids))


def remove_uploads_after_commit(
    session: AsyncSession, settings: Settings, meeting_ids: list[uuid.UUID]
) -> None:
    """Once the transaction deleting these meetings commits, delete their recordings too."""
    if not meeting_ids:
        return

    async def remove() -> None:
        await remove_meeting_uploads(settings, meeting_ids)

    after_commit(session, remove)


@dataclass
class _Folder:
    path: Path
    files: list[tuple[Path, uuid.UUID | None, float]]  # path, transcription id if named by one, mtime


def _listing(root: Path) -> dict[uuid.UUID, _Folder]:
    """Meeting folders by meeting id, with their files. Symlinks are skipped (never followed to delete
    what they point at), and whatever vanishes while we look (the API deleting a meeting) is passed over."""
    found: dict[uuid.UUID, _Folder] = {}
    try:
        folders = list(root.iterdir())
    except FileNotFoundError:
        return found
    for folder in folders:
        try:
            meeting_id = uuid.UUID(folder.name)
        except ValueError:
            continue  # not ours
        if folder.is_symlink() or not folder.is_dir():
            continue
        files = []
        try:
            for path in folder.iterdir():
                if path.is_symlink():
                    continue
                try:
                    transcription_id: uuid.UUID | None = uuid.UUID(path.name.removesuffix(".bin"))
                except ValueError:
                    transcription_id = None
                files.append((path, transcription_id, path.stat().st_mtime))
        except FileNotFoundError:
            continue
        found[meeting_id] = _Folder(folder, files)
    return found


async def sweep_orphan_uploads(
    session: AsyncSession, settings: Settings, *, grace_seconds: float = ORPHAN_GRACE_SECONDS
) -> int:
    """Remove recordings whose meeting or transcription no longer exists (older than the grace period)
    and empty meeting folders. Returns how many files or folders went."""
    root = uploads_root(settings)
    listing = await asyncio.to_thread(_listing, root)
    if not listing:
        return 0
    meetings = set((await session.scalars(sa.select(Meeting.id).where(Meeting.id.in_(list(listing))))).all())
    named = [tid for folder in listing.values() for _, tid, _ in folder.files if tid is not None]
    transcriptions = set(
        (await session.scalars(sa.select(Transcription.id).where(Transcription.id.in_(named)))).all()
        if named
        else []
    )
    cutoff = time.time() - grace_seconds
    doomed: list[Path] = []
    for meeting_id, folder in listing.items():
        old = [path for path, _, mtime in folder.files if mtime < cutoff]
        if meeting_id not in meetings:
            # nothing young in it: the whole folder goes; else only what is old enough
            doomed.extend([folder.path] if len(old) == len(folder.files) else old)
            continue
        doomed.extend(
            path for path, tid, mtime in folder.files if mtime < cutoff and tid not in transcriptions
        )

    return await remove_orphans(doomed, what="orphan uploads")


async def remove_orphans(doomed: list[Path], *, what: str) -> int:
    """Delete files and folders (in a thread: a large sweep must not hold up the event loop)."""

    def remove() -> int:
        for path in doomed:
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        return len(doomed)

    removed = await asyncio.to_thread(remove)
    if removed:
        log.info(f"{what} removed", extra={"removed": removed})
    return removed
