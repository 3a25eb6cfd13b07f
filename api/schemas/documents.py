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
    created_by_id: uuid.UUID | None
    created_at: datetime
    updated_at: datetime


class DocumentRead(DocumentSummary):
    content: str
