"""Project documents: text that feeds the assistant, typed in or converted from an uploaded file (whose
original is kept). Every change is recorded in the outbox."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from pathlib import Path

import sqlalchemy as sa
from fastapi import UploadFile
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from api.access import require_project
from api.limits import Budget, spend
from api.resources import Resources
from api.schemas.documents import MAX_DOCUMENT_CHARS
from core.crud import fetch_page, order_by
from core.document_files import document_path, remove_document_files_after_commit, write_document_file
from core.errors import NotFound, PayloadTooLarge
from core.feed import FeedEvent, publish_after_commit
from core.models import Document, MemberRole, OutboxAction, SourceType, User
from core.outbox import record_change
from core.settings import Settings
from ingestion.artifacts import OWNED_TYPES
from ingestion.convert import Limits
from ingestion.indexer import delete_chunks

DOCUMENT_SORTS = {
    "title": Document.title,
    "created_at": Document.created_at,
    "updated_at": Document.updated_at,
}
READ_CHUNK = 1024 * 1024


async def list_documents(
    session: AsyncSession,
    *,
    actor: User,
    project_id: uuid.UUID,
    limit: int,
    offset: int,
    sort: str | None,
    q: str | None = None,
) -> tuple[list[Document], int]:
    await require_project(session, actor, project_id)
    query = (
        sa.select(Document)
        .where(Document.project_id == project_id)
        .options(defer(Document.content, raiseload=True))
    )
    if q:
        query = query.where(Document.title.icontains(q, autoescape=True))
    ordering = (
        order_by(sort, DOCUMENT_SORTS, Document.id) if sort else [Document.created_at.desc(), Document.id]
    )
    return await fetch_page(session, query, limit=limit, offset=offset, ordering=ordering)


async def get_document(
    session: AsyncSession, *, actor: User, document_id: uuid.UUID, need: MemberRole = MemberRole.VIEWER
) -> Document:
    document = await session.get(Document, document_id)
    if document is None:
        raise NotFound("document not found")
    await require_project(session, actor, document.project_id, need, what="document")
    return document


async def create_document(
    session: AsyncSession,
    *,
    actor: User,
    project_id: uuid.UUID,
    title: str,
    content: str,
    source_filename: str | None = None,
    mime_type: str = "text/plain",
) -> Document:
    await require_project(session, actor, project_id, MemberRole.EDITOR)
    document = Document(
        project_id=project_id,
        title=title,
        content=content,
        source_filename=source_filename,
        mime_type=mime_type,
        created_by_id=actor.id,
    )
    return await _add_document(session, document)


async def _add_document(session: AsyncSession, document: Document) -> Document:
    session.add(document)
    await session.flush()
    await record_change(
        session, project_id=document.project_id, source_type=SourceType.DOCUMENT, source_id=document.id
    )
    await session.refresh(document, ["size"])
    return document


async def read_upload(upload: UploadFile, *, limit: int) -> bytes:
    """The uploaded file's bytes, refused with a 413 as soon as it passes `limit`."""
    parts: list[bytes] = []
    size = 0
    while chunk := await upload.read(READ_CHUNK):
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"the file exceeds {limit:,} bytes", code="file_too_large")
        parts.append(chunk)
    return b"".join(parts)


async def upload_document(
    session: AsyncSession,
    resources: Resources,
    *,
    actor: User,
    project_id: uuid.UUID,
    file: UploadFile,
    title: str | None,
) -> Document:
    """Convert an uploaded file to Markdown (the type decided by its content), store the Markdown as the
    document and keep the original. A file that cannot be converted stores nothing. The original is
    written before the row; should the commit fail after this returns, the worker's sweep removes it.
    Uploads spend the caller's and the project's uploads budget (before any conversion); the project's
    feed announces the document once it is stored."""
    await require_project(session, actor, project_id, MemberRole.EDITOR)
    await spend(resources, Budget.UPLOADS, user_id=actor.id, project_id=project_id)
    settings = resources.settings
    data = await read_upload(file, limit=settings.http.max_upload_bytes)
    limits = Limits(
        max_pages=settings.documents.max_pages,
        max_unzipped_bytes=settings.documents.max_unzipped_bytes,
        max_zip_entries=settings.documents.max_zip_entries,
        max_compression_ratio=settings.documents.max_compression_ratio,
        max_chars=MAX_DOCUMENT_CHARS,
    )
    converted = await resources.converter.convert(
        data, filename=file.filename, declared_type=file.content_type, limits=limits
    )
    document = Document(
        id=uuid.uuid4(),
        project_id=project_id,
        title=(title or file.filename or "document").strip()[:300] or "document",
        content=converted.markdown,
        source_filename=(file.filename or "")[:300] or None,
        mime_type=converted.mime_type,
        created_by_id=actor.id,
        source_format=converted.kind.value,
        page_count=converted.page_count,
        conversion_warnings=converted.warnings,
        file_size=len(data),
        file_sha256=hashlib.sha256(data).hexdigest(),
    )
    path = document_path(settings, project_id, document.id)
    await asyncio.to_thread(write_document_file, path, data)
    try:
        await _add_document(session, document)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    publish_after_commit(
        session,
        resources.redis,
        project_id,
        FeedEvent.DOCUMENT_CONVERTED,
        document_id=document.id,
        title=document.title,
        source_filename=document.source_filename,
        source_format=document.source_format,
        mime_type=document.mime_type,
        page_count=document.page_count,
        warnings=len(document.conversion_warnings or []),
        size=document.size,
    )
    return document


async def document_file(
    session: AsyncSession, settings: Settings, *, actor: User, document_id: uuid.UUID
) -> tuple[Document, Path]:
    """The uploaded original of a document the caller may see."""
    document = await get_document(session, actor=actor, document_id=document_id)
    path = document_path(settings, document.project_id, document.id)
    if document.file_size is None or not path.is_file():
        raise NotFound("this document has no uploaded file", code="no_file")
    return document, path


async def update_document(
    session: AsyncSession,
    *,
    actor: User,
    document_id: uuid.UUID,
    title: str | None,
    content: str | None,
) -> Document:
    document = await get_document(session, actor=actor, document_id=document_id, need=MemberRole.EDITOR)
    changed = False
    if title is not None and title != document.title:
        document.title, changed = title, True
    if content is not None and content != document.content:
        document.content, changed = content, True
    if changed:
        await record_change(
            session, project_id=document.project_id, source_type=SourceType.DOCUMENT, source_id=document.id
        )
    await session.flush()
    await session.refresh(document, ["size"])
    return document


async def delete_document(
    session: AsyncSession, settings: Settings, *, actor: User, document_id: uuid.UUID
) -> None:
    document = await get_document(session, actor=actor, document_id=document_id, need=MemberRole.EDITOR)
    if document.file_size is not None:
        remove_document_files_after_commit(session, settings, files=[(document.project_id, document.id)])
    await record_change(
        session,
        project_id=document.project_id,
        source_type=SourceType.DOCUMENT,
        source_id=document.id,
        action=OutboxAction.DELETE,
    )
    # Out of the index in this same transaction; the outbox job re-checks (and covers races).
    await delete_chunks(session, source_id=document.id, source_types=OWNED_TYPES[SourceType.DOCUMENT])
    await session.delete(document)
    await session.flush()
