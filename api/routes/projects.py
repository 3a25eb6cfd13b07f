"""Projects, their members, stats and documents."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import File, Form, Query, Response, UploadFile, status
from fastapi.responses import FileResponse

from api.deps import CurrentUser, ReaderDep, ResourcesDep, SessionDep, SettingsDep
from api.responses import JsonBytes
from api.routing import ApiRouter
from api.schemas.common import Page, PageParams
from api.schemas.documents import DocumentCreate, DocumentListItem, DocumentRead, DocumentUpdate
from api.schemas.indexing import IndexStatus, RetryResult
from api.schemas.projects import (
    MemberAdd,
    MemberRead,
    ProjectCreate,
    ProjectListQuery,
    ProjectRead,
    ProjectStats,
    ProjectUpdate,
)
from api.services import documents as document_service
from api.services import indexing as indexing_service
from api.services import projects as service
from api.services import reads

router = ApiRouter(prefix="/projects", tags=["projects"])


# The hot reads first: FastAPI tries a router's routes in order, twice per request, at a few µs each.
@router.get("/{project_id}", response_model=ProjectRead)
async def get_project(project_id: uuid.UUID, reader: ReaderDep) -> Response:
    return JsonBytes(await reads.read_project(reader, project_id=project_id))


@router.get("", response_model=Page[ProjectRead])
async def list_projects(reader: ReaderDep, query: Annotated[ProjectListQuery, Query()]) -> Response:
    return JsonBytes(await reads.list_projects(reader, query))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ProjectRead)
async def create_project(body: ProjectCreate, session: SessionDep, user: CurrentUser) -> object:
    return await service.create_project(session, actor=user, data=body)


@router.get("/documents/{document_id}", response_model=DocumentRead, tags=["documents"])
async def get_document(document_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> object:
    return await document_service.get_document(session, actor=user, document_id=document_id)


@router.put("/documents/{document_id}", response_model=DocumentRead, tags=["documents"])
async def update_document(
    document_id: uuid.UUID, body: DocumentUpdate, session: SessionDep, user: CurrentUser
) -> object:
    return await document_service.update_document(
        session, actor=user, document_id=document_id, title=body.title, content=body.content
    )


@router.delete("/documents/{document_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["documents"])
async def delete_document(
    document_id: uuid.UUID, session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> None:
    await document_service.delete_document(session, settings, actor=user, document_id=document_id)


@router.get(
    "/documents/{document_id}/file",
    response_class=FileResponse,
    tags=["documents"],
    responses={
        200: {
            "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            "description": "the uploaded original, with its own media type",
        }
    },
)
async def download_document_file(
    document_id: uuid.UUID, session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> FileResponse:
    """The file the document was uploaded as, byte for byte, with its original name."""
    document, path = await document_service.document_file(
        session, settings, actor=user, document_id=document_id
    )
    return FileResponse(
        path,
        media_type=document.mime_type,
        filename=document.source_filename or f"document-{document.id}",
        content_disposition_type="attachment",
    )


@router.put("/{project_id}", response_model=ProjectRead)
async def update_project(
    project_id: uuid.UUID, body: ProjectUpdate, session: SessionDep, user: CurrentUser
) -> object:
    return await service.update_project(session, actor=user, project_id=project_id, data=body)


@router.delete("/{project_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_project(
    project_id: uuid.UUID, session: SessionDep, settings: SettingsDep, user: CurrentUser
) -> None:
    await service.delete_project(session, actor=user, project_id=project_id, settings=settings)


@router.get("/{project_id}/stats", response_model=ProjectStats)
async def project_stats(project_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> object:
    return await service.project_stats(session, actor=user, project_id=project_id)


@router.get("/{project_id}/index-status", response_model=IndexStatus, tags=["indexing"])
async def index_status(project_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> object:
    """What of the project is searchable: indexed chunks, pending and failed changes, the model."""
    return await indexing_service.index_status(session, actor=user, project_id=project_id)


@router.post("/{project_id}/index/retry", response_model=RetryResult, tags=["indexing"])
async def retry_index(project_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> object:
    """Put the project's dead-lettered changes back in the queue (like `v1tr0 reindex --failed`)."""
    return {
        "retried": await indexing_service.retry_failed_changes(session, actor=user, project_id=project_id)
    }


@router.get("/{project_id}/members", response_model=list[MemberRead], tags=["members"])
async def list_members(project_id: uuid.UUID, session: SessionDep, user: CurrentUser) -> object:
    return await service.list_members(session, actor=user, project_id=project_id)


@router.post(
    "/{project_id}/members",
    response_model=MemberRead,
    status_code=status.HTTP_201_CREATED,
    tags=["members"],
    responses={200: {"model": MemberRead, "description": "role of an existing member changed"}},
)
async def add_member(
    project_id: uuid.UUID, body: MemberAdd, session: SessionDep, user: CurrentUser, response: Response
) -> object:
    member, created = await service.add_member(session, actor=user, project_id=project_id, data=body)
    if not created:
        response.status_code = status.HTTP_200_OK
    return member


@router.delete("/{project_id}/members/{user_id}", status_code=status.HTTP_204_NO_CONTENT, tags=["members"])
async def remove_member(
    project_id: uuid.UUID, user_id: uuid.UUID, session: SessionDep, user: CurrentUser
) -> None:
    await service.remove_member(session, actor=user, project_id=project_id, user_id=user_id)


@router.get("/{project_id}/documents", response_model=Page[DocumentListItem], tags=["documents"])
async def list_documents(
    project_id: uuid.UUID,
    session: SessionDep,
    user: CurrentUser,
    page: Annotated[PageParams, Query()],
    q: Annotated[str | None, Query(max_length=200, description="title contains")] = None,
) -> object:
    rows, total = await document_service.list_documents(
        session, actor=user, project_id=project_id, limit=page.limit, offset=page.offset, sort=page.sort, q=q
    )
    items = [DocumentListItem.listed(*row) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post(
    "/{project_id}/documents",
    response_model=DocumentRead,
    status_code=status.HTTP_201_CREATED,
    tags=["documents"],
)
async def create_document(
    project_id: uuid.UUID, body: DocumentCreate, session: SessionDep, user: CurrentUser
) -> object:
    return await document_service.create_document(
        session, actor=user, project_id=project_id, title=body.title, content=body.content
    )


@router.post(
    "/{project_id}/documents/upload",
    response_model=DocumentRead,
    status_code=status.HTTP_201_CREATED,
    tags=["documents"],
    summary="Upload a file (PDF, DOCX, PPTX, XLSX, CSV, HTML, Markdown, text) as a project document",
    responses={
        413: {"description": "file, unpacked archive, page count or text over a limit"},
        415: {"description": "not a supported format, or its name says another format than its content"},
        422: {"description": "encrypted, scanned (no text layer), damaged, zip bomb, not UTF-8, timed out"},
    },
)
async def upload_document(
    project_id: uuid.UUID,
    session: SessionDep,
    resources: ResourcesDep,
    user: CurrentUser,
    file: Annotated[UploadFile, File(description="PDF, DOCX, PPTX, XLSX, CSV, HTML, Markdown or UTF-8 text")],
    title: Annotated[str | None, Form(max_length=300)] = None,
) -> object:
    """The file is converted offline to Markdown that keeps its structure (headings, lists, tables, PDF
    pages); that text is the document's content and is indexed. The original is kept: see
    `GET /projects/documents/{id}/file`. Formats and limits: docs/documents.md."""
    return await document_service.upload_document(
        session, resources, actor=user, project_id=project_id, file=file, title=title
    )
