"""Project documents: text that feeds the assistant. Every change is recorded in the outbox."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from api import limits
from api.access import require_project
from api.limits import Budget
from api.resources import Resources
from core.crud import fetch_page, order_by
from core.errors import Invalid, NotFound, UnsupportedMediaType
from core.feed import FeedEvent, publish_after_commit
from core.models import Document, MemberRole, OutboxAction, SourceType, User
from core.outbox import record_change
from ingestion.artifacts import OWNED_TYPES
from ingestion.indexer import delete_chunks

DOCUMENT_SORTS = {
    "title": Document.title,
    "created_at": Document.created_at,
    "updated_at": Document.updated_at,
}
TEXT_TYPES = {".txt": "text/plain", ".md": "text/markdown", ".markdown": "text/markdown"}


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
    session.add(document)
    await session.flush()
    await record_change(
        session, project_id=project_id, source_type=SourceType.DOCUMENT, source_id=document.id
    )
    await session.refresh(document, ["size"])
    return document


async def upload_document(
    session: AsyncSession,
    resources: Resources,
    *,
    actor: User,
    project_id: uuid.UUID,
    filename: str | None,
    content_type: str | None,
    raw: bytes,
    title: str | None,
) -> Document:
    """A document from an uploaded file, converted to text (within the uploads budget); the project's feed
    announces it once stored."""
    await require_project(session, actor, project_id, MemberRole.EDITOR)
    await limits.spend(resources, Budget.UPLOADS, user_id=actor.id, project_id=project_id)
    text, mime_type = decode_text_upload(filename, content_type, raw)
    document = await create_document(
        session,
        actor=actor,
        project_id=project_id,
        title=(title or filename or "document").strip()[:300] or "document",
        content=text,
        source_filename=filename,
        mime_type=mime_type,
    )
    publish_after_commit(
        session,
        resources.redis,
        project_id,
        FeedEvent.DOCUMENT_CONVERTED,
        document_id=document.id,
        title=document.title,
        source_filename=filename,
        mime_type=mime_type,
        size=document.size,
    )
    return document


def decode_text_upload(filename: str | None, content_type: str | None, raw: bytes) -> tuple[str, str]:
    """Validate an uploaded text file; return (text, mime type)."""
    name = (filename or "").lower()
    suffix = name[name.rfind(".") :] if "." in name else ""
    if suffix not in TEXT_TYPES:
        raise UnsupportedMediaType(
            "only .txt and .md files are accepted", details={"accepted": sorted(TEXT_TYPES)}
        )
    if b"\x00" in raw:
        raise UnsupportedMediaType("the file is binary, not text")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid(f"the file is not valid UTF-8 (byte {exc.start})", code="invalid_encoding") from None
    return text, TEXT_TYPES[suffix]


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


async def delete_document(session: AsyncSession, *, actor: User, document_id: uuid.UUID) -> None:
    document = await get_document(session, actor=actor, document_id=document_id, need=MemberRole.EDITOR)
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
