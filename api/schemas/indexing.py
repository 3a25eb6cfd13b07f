"""Index status bodies."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import Field

from api.schemas.common import Output
from core.models import OutboxAction, SourceType


class FailedItem(Output):
    outbox_id: int
    source_type: SourceType
    source_id: uuid.UUID
    action: OutboxAction
    attempts: int
    error: str | None
    failed_at: datetime


class IndexStatus(Output):
    project_id: uuid.UUID
    embedding_model: str | None = Field(description="the model searches use")
    building_model: str | None = Field(description="a model being built to replace it, if any")
    indexed_chunks: int = Field(description="chunks of the serving model")
    pending: int = Field(description="changes not yet in the index")
    failed: int
    failures: list[FailedItem] = Field(description="the most recent dead-lettered changes")
    last_indexed_at: datetime | None


class RetryResult(Output):
    retried: int
