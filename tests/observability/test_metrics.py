"""Prometheus metrics: job durations, embedded texts, LLM tokens per project, queue depth and outbox lag,
and a /metrics that still answers when Redis is down."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from api.app import create_app
from api.resources import Resources
from core.embedded import free_port
from core.settings import Settings
from tests.conftest import Factory, Servers, make_settings
from tests.ingestion.helpers import drain, new_document, new_project

QUESTION = "¿Quién enviará la factura?"
DOCUMENT = "El presupuesto total del proyecto es de 12.000 euros. Ana enviará la factura el viernes."


def samples(text: str) -> list[tuple[str, dict[str, str], float]]:
    return [
        (sample.name, dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def total(text: str, name: str, **labels: str) -> float:
    return sum(
        value
        for sample_name, sample_labels, value in samples(text)
        if sample_name == name and all(sample_labels.get(k) == v for k, v in labels.items())
    )


def names(text: str) -> set[str]:
    return {name for name, _, _ in samples(text)}


async def scrape(client: httpx.AsyncClient) -> str:
    r = await client.get("/metrics")
    assert r.status_code == 200, r.text
    return r.text


async def test_ingestion_and_ask_are_measured(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, resources: Resources
) -> None:
    owner = await factory.user()
    project_id = await new_project(client, owner)
    await new_document(client, owner, project_id, DOCUMENT, title="Presupuesto")
    await drain(settings, resources)

    text = await scrape(client)
    assert total(text, "v1tr0_job_duration_seconds_count", job="ingest_outbox", outcome="done") >= 1
    assert total(text, "v1tr0_embedded_texts_total") > 0
    assert total(text, "v1tr0_outbox_pending") == 0
    assert total(text, "v1tr0_outbox_lag_seconds") == 0

    r = await client.get(f"/api/v1/ai/ask/{project_id}", params={"q": QUESTION}, headers=owner.headers)
    assert r.status_code == 200, r.text
    assert r.json()["grounded"] is True
    text = await scrape(client)
    used = [
        (labels["kind"], value)
        for name, labels, value in samples(text)
        if name == "v1tr0_llm_tokens_total" and labels.get("project") == project_id
    ]
    assert {kind for kind, _ in used} == {"prompt", "completion"}
    assert sum(value for _, value in used) > 0


async def test_queue_depth_and_outbox_lag_of_a_pending_row(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    owner = await factory.user()
    project_id = await new_project(client, owner)
    await new_document(client, owner, project_id, DOCUMENT)  # recorded, never drained

    text = await scrape(client)
    assert {"v1tr0_queue_depth", "v1tr0_outbox_pending", "v1tr0_outbox_lag_seconds"} <= names(text)
    assert total(text, "v1tr0_outbox_pending") >= 1
    assert total(text, "v1tr0_outbox_lag_seconds") >= 0
    assert total(text, "v1tr0_queue_depth") >= 0


async def test_metrics_answer_with_redis_down(servers: Servers, resources: Resources) -> None:
    settings = make_settings(servers, redis_url=f"redis://127.0.0.1:{free_port()}/0")
    down = Resources.open(settings)
    try:
        app = create_app(settings, resources=down)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
            text = await scrape(http)
    finally:
        await down.close()
    assert "v1tr0_queue_depth" not in names(text)  # Redis is down: left out, not a failed scrape
    assert total(text, "v1tr0_outbox_pending") == 0
    assert "# TYPE v1tr0_http_request_duration_seconds histogram" in text
