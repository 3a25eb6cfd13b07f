"""A job's JSON log lines carry the request id of the request that caused it."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import httpx
import pytest

from api.resources import Resources
from core.logs import JsonFormatter
from core.settings import Settings
from tests.conftest import Factory
from tests.ingestion.helpers import FailingEmbedder, drain, new_project, outbox_rows

REQUEST_ID = "req-observability-0001"


class Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@pytest.fixture
def job_lines() -> Iterator[Lines]:
    handler = Lines()
    logger = logging.getLogger("v1tr0.ingestion")
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


async def test_ingestion_job_logs_carry_the_request_id(
    client: httpx.AsyncClient,
    factory: Factory,
    settings: Settings,
    resources: Resources,
    job_lines: Lines,
) -> None:
    owner = await factory.user()
    project_id = await new_project(client, owner)
    r = await client.post(
        f"/api/v1/projects/{project_id}/documents",
        json={"title": "Acta", "content": "Ana enviará la factura el viernes."},
        headers={**owner.headers, "X-Request-ID": REQUEST_ID},
    )
    assert r.status_code == 201, r.text
    assert r.headers["X-Request-ID"] == REQUEST_ID

    # A failing embedder makes the job log (an error line, with the failure), as any job line would.
    caused = [row.id for row in await outbox_rows(resources) if row.request_id == REQUEST_ID]
    assert len(caused) == 1  # the document's row (the project's own row has its request's id)
    failing = FailingEmbedder()
    await drain(settings, resources, embedders={failing.name: failing})

    assert failing.failures >= 1
    logged = [line for line in job_lines.lines if line.get("outbox_id") == caused[0]]
    assert logged, "the ingestion job logged nothing about the row"
    assert all(line.get("request_id") == REQUEST_ID for line in logged), logged
    others = [line for line in job_lines.lines if line.get("outbox_id") not in (None, caused[0])]
    assert all(line.get("request_id") != REQUEST_ID for line in others), others
