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


class RetryingItem(Output):
    outbox_id: int
    source_type: SourceType
    source_id: uuid.UUID
    action: OutboxAction
    attempts: int = Field(description="failed attempts so far")
    error: str | None = Field(description="the last attempt's error")
    next_attempt_at: datetime


class IndexStatus(Output):
    project_id: uuid.UUID
    embedding_model: str | None = Field(description="the model searches use")
    building_model: str | None = Field(description="a model being built to replace it, if any")
    indexed_chunks: int = Field(description="chunks of the serving model")
    pending: int = Field(description="changes waiting for their first indexing attempt")
    retrying: int = Field(description="changes whose indexing failed and will be tried again")
    failed: int = Field(description="changes that failed every attempt (retry them with index/retry)")
    oldest_pending_at: datetime | None = Field(description="when the oldest unindexed change was made")
    retries: list[RetryingItem] = Field(description="the changes being retried, most recent first")
    failures: list[FailedItem] = Field(description="the most recent dead-lettered changes")
    last_indexed_at: datetime | None


class RetryResult(Output):
    retried: int
