"""Bodies of the AI routes: search results, answers with citations, chat."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field, field_validator

from api.schemas.common import Output, StrictInput
from core.models import SourceType


class SearchResult(Output):
    chunk_id: int
    project_id: uuid.UUID
    source_type: SourceType
    source_id: uuid.UUID
    title: str
    snippet: str = Field(description="HTML-escaped text with matched terms in <mark>")
    highlights: list[str] = Field(description="the matched terms")
    score: float
    meeting_id: uuid.UUID | None = None
    start: float | None = Field(None, description="seconds into the meeting (transcript chunks)")
    end: float | None = None
    speakers: list[str] | None = None
    segment_ids: list[int] | None = Field(None, description="transcript chunks: their segments")
    section: str | None = Field(None, description="heading path in a document, e.g. 'Presupuesto › Pagos'")
    page: int | None = Field(None, description="PDF page the chunk starts on")
    page_end: int | None = Field(None, description="last PDF page, when the chunk spans pages")
    slide: int | None = Field(None, description="slide of a presentation")


INDEX_PENDING = "changes of the searched projects not yet in the index (results may miss them)"


class SearchResults(Output):
    query: str
    results: list[SearchResult]
    model: str
    mode: str
    index_pending: int = Field(0, description=INDEX_PENDING)
    lexical: Literal["bm25", "ts_rank"] | None = Field(
        None, description="the full-text ranking of this search (see /health/ready); null in vector mode"
    )


class Citation(Output):
    n: int
    chunk_id: int
    project_id: uuid.UUID
    source_type: SourceType
    source_id: uuid.UUID
    title: str
    snippet: str
    meeting_id: uuid.UUID | None = None
    start: float | None = Field(None, description="seconds into the meeting of the cited segments")
    end: float | None = None
    speakers: list[str] | None = None
    segment_ids: list[int] | None = Field(
        None,
        description="transcript citations: the segments the answer quotes (their index in the transcript)",
    )
    section: str | None = None
    page: int | None = None
    page_end: int | None = None
    slide: int | None = None


class AskResponse(Output):
    answer: str = Field(description="refers to citations as [n]; every [n] is in citations")
    citations: list[Citation]
    provider: str
    model: str
    prompt_name: str
    prompt_version: str
    grounded: bool = Field(description="false when nothing relevant was found and the answer says so")
    index_pending: int = Field(
        0, description="changes of the project not yet in the index; the answer then ends with a note"
    )

    model_config = Output.model_config | {
        "json_schema_extra": {
            "examples": [
                {
                    "answer": "Ana enviará el presupuesto el viernes [1].",
                    "citations": [
                        {
                            "n": 1,
                            "chunk_id": 42,
                            "project_id": "6f1c1f0e-8f7a-4a59-9a57-3d0f3f7c2a11",
                            "source_type": "transcript",
                            "source_id": "0c6f7c1e-2d0b-4c4e-9b1f-5f1d2a3b4c5d",
                            "title": "Revisión semanal",
                            "snippet": "Ana: me encargo de enviar el <mark>presupuesto</mark> el viernes",
                            "meeting_id": "1a2b3c4d-0000-4000-8000-000000000001",
                            "start": 754.2,
                            "end": 790.0,
                        }
                    ],
                    "provider": "extractive",
                    "model": "extractive-v1",
                    "prompt_name": "answer",
                    "prompt_version": "1+617cab24",
                    "grounded": True,
                    "index_pending": 0,
                }
            ]
        }
    }


class ChatRequest(StrictInput):
    message: str = Field(min_length=1, max_length=10_000)
    conversation_id: uuid.UUID | None = None

    @field_validator("message")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        # Postgres text cannot hold NUL: refuse it here rather than fail when the turn is stored.
        if "\x00" in value:
            raise ValueError("the message contains a NUL character")
        return value


class ChatMessageRead(Output):
    id: uuid.UUID
    conversation_id: uuid.UUID
    user_id: uuid.UUID | None
    message: str
    ai_response: str
    processing_status: str
    context_used: list[Any]
    provider: str | None
    model: str | None
    prompt_name: str | None
    prompt_version: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime


class StreamTicket(Output):
    message_id: uuid.UUID
    conversation_id: uuid.UUID
    stream_url: str = Field(description="GET it with EventSource; the token in it is valid for one stream")
    expires_in: int


class ChunkRead(Output):
    id: int
    project_id: uuid.UUID
    source_type: SourceType
    source_id: uuid.UUID
    chunk_index: int
    content: str
    meta: dict[str, Any] = Field(serialization_alias="metadata")
    embedding_model: str
    token_count: int
    created_at: datetime
