"""Prometheus metrics shared by the API and the worker (no web framework here).

Counters and histograms live in the default registry. When PROMETHEUS_MULTIPROC_DIR is set (several
uvicorn workers), prometheus_client writes them to files there and `registry()` merges them at scrape time.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, multiprocess, start_http_server

from core.providers.llm import Usage
from core.settings import OpenAISettings

JOB_DURATION = Histogram(
    "v1tr0_job_duration_seconds",
    "Duration of worker jobs by job name and outcome",
    ["job", "outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
EMBEDDED_TEXTS = Counter("v1tr0_embedded_texts", "Texts sent to an embedding model while indexing", ["model"])
LLM_TOKENS = Counter(
    "v1tr0_llm_tokens", "LLM tokens used by answers and chat turns", ["provider", "model", "kind", "project"]
)
LLM_COST = Counter(
    "v1tr0_llm_cost", "Estimated LLM cost (configured price per 1k tokens)", ["provider", "model", "project"]
)


@contextmanager
def time_job(job: str) -> Iterator[dict[str, str]]:
    """Observe a job's duration; the caller sets `outcome["outcome"]` (an exception makes it 'failed')."""
    outcome = {"outcome": "done"}
    started = time.perf_counter()
    try:
        yield outcome
    except BaseException:
        outcome["outcome"] = "failed"
        raise
    finally:
        JOB_DURATION.labels(job=job, outcome=outcome["outcome"]).observe(time.perf_counter() - started)


def record_embedded(model: str, count: int) -> None:
    if count > 0:
        EMBEDDED_TEXTS.labels(model=model).inc(count)


def record_llm_usage(
    *, provider: str, model: str, project_id: uuid.UUID | str, usage: Usage, prices: OpenAISettings
) -> None:
    project = str(project_id)
    LLM_TOKENS.labels(provider=provider, model=model, kind="prompt", project=project).inc(
        max(usage.prompt_tokens, 0)
    )
    LLM_TOKENS.labels(provider=provider, model=model, kind="completion", project=project).inc(
        max(usage.completion_tokens, 0)
    )
    cost = 0.0
    if prices.cost_per_1k_prompt > 0:
        cost += max(usage.prompt_tokens, 0) / 1000 * prices.cost_per_1k_prompt
    if prices.cost_per_1k_completion > 0:
        cost += max(usage.completion_tokens, 0) / 1000 * prices.cost_per_1k_completion
    if prices.cost_per_1k_prompt > 0 or prices.cost_per_1k_completion > 0:
        LLM_COST.labels(provider=provider, model=model, project=project).inc(cost)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


def registry() -> CollectorRegistry:
    """The registry to expose: the process's own, or one merging every process's files."""
    if multiprocess_dir() is None:
        return REGISTRY
    merged = CollectorRegistry()
    multiprocess.MultiProcessCollector(merged)  # type: ignore[no-untyped-call]
    return merged


def serve_worker_metrics(port: int) -> None:
    """The worker's own /metrics endpoint, on loopback only."""
    start_http_server(port, addr="127.0.0.1")
