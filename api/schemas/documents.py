"""Project document bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from api.schemas.common import Output, PartialUpdate, StrictInput

MAX_DOCUMENT_CHARS = 10_000_000


class DocumentCreate(StrictInput):
    title: str = Field(min_length=1, max_length=300)
    content: str = Field(max_length=MAX_DOCUMENT_CHARS)

    model_config = StrictInput.model_config | {
        "json_schema_extra": {
            "examples": [{"title": "Acta de inicio", "content": "# Alcance\nLa web tendrá tres secciones…"}]
        }
    }


class DocumentUpdate(PartialUpdate):
    not_nullable = frozenset({"title", "content"})

    title: str | None = Field(None, min_length=1, max_length=300)
    content: str | None = Field(None, max_length=MAX_DOCUMENT_CHARS)


class DocumentSummary(Output):
    id: uuid.UUID
    project_id: uuid.UUID
    title: str
    source_filename: str | None
    mime_type: str
    size: int = Field(description="characters of content")
    source_format: str | None = Field(
        None, description="what an uploaded file was converted from: pdf, docx, pptx, xlsx, csv, html..."
    )
    page_count: int | None = Field(None, description="pages of a PDF, slides of a presentation, sheets")
    file_size: int | None = Field(
        None, description="bytes of the uploaded original (GET /projects/documents/{id}/file); null: none"
    )
    created_by_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class DocumentRead(DocumentSummary):
    content: str = Field(description="Markdown; a converted PDF or deck marks pages as <!-- page N -->")
    conversion_warnings: list[str] = Field(default_factory=list, description="what the conversion left out")
