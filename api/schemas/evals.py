"""Eval run bodies: the run list, one run with its per-question results, and a run request."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import Field

from api.schemas.common import Output, StrictInput

NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"


class EvalRunSummary(Output):
    id: uuid.UUID
    kind: str
    status: str
    dataset_name: str
    dataset_hash: str | None
    split: str | None
    prompt_name: str | None
    prompt_version: str | None
    provider: str | None
    model: str | None
    embedding_model: str | None
    settings: dict[str, Any]
    git_commit: str | None
    metrics: dict[str, Any]
    timings: dict[str, Any]
    error: str | None
    item_count: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class EvalItemRead(Output):
    item_key: str
    question: str
    reference_answer: str | None
    answer: str | None
    metrics: dict[str, Any]
    retrieved_ids: list[Any]
    contexts: list[Any]
    latency_ms: float | None


class EvalRunRead(EvalRunSummary):
    items: list[EvalItemRead]


class EvalRunCreate(StrictInput):
    kind: Literal["retrieval", "answers"]
    dataset: str = Field(pattern=NAME, description="a name from GET /evals/datasets, never a path")
    split: str | None = Field(None, pattern=NAME)
    mode: Literal["hybrid", "vector", "text"] = "hybrid"
    prompt: str | None = Field(
        None, pattern=r"^[a-z_]{1,64}(@[A-Za-z0-9._-]{1,64})?$", description="NAME@VERSION"
    )
    limit: int | None = Field(None, ge=1, le=100_000, description="only the first N questions")


class EvalDatasetRead(Output):
    name: str
    format: str
