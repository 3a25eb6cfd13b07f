"""Stored originals of uploaded documents: where they live, and removing them with their document.

An uploaded file is kept as `{data_dir}/documents/{project_id}/{document_id}` (written before its row
commits, removed again if the request fails). Deleting a document or its project removes the file right
after the commit; the worker's sweep removes whatever that missed, as for recordings (core/uploads.py).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Document, Project
from core.outbox import after_commit
from core.settings import Settings
from core.uploads import ORPHAN_GRACE_SECONDS, remove_orphans

log = logging.getLogger("v1tr0.uploads")


def documents_root(settings: Settings) -> Path:
    return settings.data_dir.resolve() / "documents"


def document_path(settings: Settings, project_id: uuid.UUID, document_id: uuid.UUID) -> Path:
    return documents_root(settings) / str(project_id) / str(document_id)


def write_document_file(path: Path, data: bytes) -> None:
    """Write atomically: a reader never sees half a file, a crash leaves at most a temporary one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".part")
    with partial.open("wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    partial.replace(path)


def remove_document_files_after_commit(
    session: AsyncSession,
    settings: Settings,
    *,
    files: Sequence[tuple[uuid.UUID, uuid.UUID]] = (),
    project_id: uuid.UUID | None = None,
) -> None:
    """Once the transaction deleting these documents (or the project) commits, delete their files."""
    root = documents_root(settings)

    def remove() -> None:
        for owner, document_id in files:
            (root / str(owner) / str(document_id)).unlink(missing_ok=True)
        if project_id is not None:
            shutil.rmtree(root / str(project_id), ignore_errors=True)

    async def run() -> None:
        await asyncio.to_thread(remove)

    if files or project_id is not None:
        after_commit(session, run)


Listing = dict[uuid.UUID, tuple[Path, list[tuple[Path, uuid.UUID | None, float]]]]


def _listing(root: Path) -> Listing:
    """Project folders by project id: (folder, [(file, document id if named by one, mtime)]). Symlinks
    are skipped (never followed to delete what they point at)."""
    found: Listing = {}
    try:
        folders = list(root.iterdir())
    except FileNotFoundError:
        return found
    for folder in folders:
        try:
            project_id = uuid.UUID(folder.name)
        except ValueError:
            continue
        if folder.is_symlink() or not folder.is_dir():
            continue
        files = []
        try:
            for path in folder.iterdir():
                if path.is_symlink() or not path.is_file():
                    continue
                try:
                    document_id: uuid.UUID | None = uuid.UUID(path.name)
                except ValueError:
                    document_id = None  # a `.part` left by a crash
                files.append((path, document_id, path.stat().st_mtime))
        except FileNotFoundError:
            continue
        found[project_id] = (folder, files)
    return found


async def sweep_orphan_documents(
    session: AsyncSession, settings: Settings, *, grace_seconds: float = ORPHAN_GRACE_SECONDS
) -> int:
    """Remove stored originals whose document or project no longer exists (older than the grace
    period), and folders left empty. Returns how many files or folders went."""
    root = documents_root(settings)
    listing = await asyncio.to_thread(_listing, root)
    if not listing:
        return 0
    projects = set((await session.scalars(sa.select(Project.id).where(Project.id.in_(list(listing))))).all())
    named = [doc_id for _, files in listing.values() for _, doc_id, _ in files if doc_id is not None]
    documents = (
        set((await session.scalars(sa.select(Document.id).where(Document.id.in_(named)))).all())
        if named
        else set()
    )
    cutoff = time.time() - grace_seconds
    doomed: list[Path] = []
    for project_id, (folder, files) in listing.items():
        if not files and project_id not in projects:
            doomed.append(folder)
            continue
        doomed.extend(path for path, doc_id, mtime in files if mtime < cutoff and doc_id not in documents)

    return await remove_orphans(doomed, what="orphan document files")
