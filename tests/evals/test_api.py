"""The admin-only eval API, runs queued for the worker, and eval projects invisible to everyone."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa

from api.resources import Resources
from core.models import EvalDataset, EvalRun, EvalRunStatus
from core.settings import Settings
from core.vectors import register_model
from evals.jobs import plugin
from evals.loaders import load_dataset
from evals.runner import RunOptions, run_eval
from ingestion.worker import build_worker
from tests.conftest import Factory
from tests.evals.helpers import eval_services, write_beir

RUNS = "/api/v1/evals/runs"


async def a_stored_run(settings: Settings, resources: Resources, tmp_path: Path) -> uuid.UUID:
    dataset = load_dataset(write_beir(tmp_path / "tiny"))
    return (await run_eval(eval_services(settings, resources), dataset, RunOptions(progress=False))).run_id


async def test_only_admins_use_the_eval_api(client: httpx.AsyncClient, factory: Factory) -> None:
    member = await factory.user()

    assert (await client.get(RUNS, headers=member.headers)).status_code == 403
    assert (await client.get(f"{RUNS}/{uuid.uuid4()}", headers=member.headers)).status_code == 403
    body = {"kind": "retrieval", "dataset": "agencia"}
    assert (await client.post(RUNS, json=body, headers=member.headers)).status_code == 403
    assert (await client.get("/api/v1/evals/datasets", headers=member.headers)).status_code == 403
    assert (await client.get(RUNS)).status_code == 401


async def test_admins_list_and_read_runs(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, resources: Resources, tmp_path: Path
) -> None:
    admin = await factory.user(is_admin=True)
    run_id = await a_stored_run(settings, resources, tmp_path)

    listed = await client.get(RUNS, params={"limit": 5}, headers=admin.headers)
    assert listed.status_code == 200
    page = listed.json()
    assert page["total"] == 1 and page["items"][0]["id"] == str(run_id)
    assert page["items"][0]["metrics"]["ndcg@10"] == 1.0 and "items" not in page["items"][0]

    detail = await client.get(f"{RUNS}/{run_id}", headers=admin.headers)
    assert detail.status_code == 200
    body = detail.json()
    assert body["status"] == "completed" and body["dataset_name"] == "tiny"
    assert [item["item_key"] for item in body["items"]] == ["q1", "q2", "q3"]
    assert body["items"][0]["metrics"]["ndcg@10"] == 1.0 and body["items"][0]["latency_ms"] > 0

    missing = await client.get(f"{RUNS}/{uuid.uuid4()}", headers=admin.headers)
    assert missing.status_code == 404


async def test_a_run_request_names_a_dataset_never_a_path(
    client: httpx.AsyncClient, factory: Factory
) -> None:
    admin = await factory.user(is_admin=True)

    for dataset in ("../../etc", "/etc/passwd", "no-such-dataset"):
        response = await client.post(
            RUNS, json={"kind": "retrieval", "dataset": dataset}, headers=admin.headers
        )
        assert response.status_code == 422, dataset
    unknown_prompt = {"kind": "answers", "dataset": "agencia", "prompt": "answer@99"}
    assert (await client.post(RUNS, json=unknown_prompt, headers=admin.headers)).status_code == 422
    datasets = (await client.get("/api/v1/evals/datasets", headers=admin.headers)).json()
    assert {"name": "agencia", "format": "project"} in datasets


async def test_a_queued_run_is_executed_by_the_worker(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, resources: Resources
) -> None:
    admin = await factory.user(is_admin=True)
    body = {"kind": "answers", "dataset": "agencia", "prompt": "answer@2", "limit": 2, "mode": "text"}

    response = await client.post(RUNS, json=body, headers=admin.headers)

    assert response.status_code == 202
    queued = response.json()
    assert queued["status"] == "queued" and queued["kind"] == "answers"
    worker = build_worker(settings, plugins=[plugin()], burst=True, handle_signals=False)
    try:
        await worker.main()
    finally:
        await worker.close()
    done = (await client.get(f"{RUNS}/{queued['id']}", headers=admin.headers)).json()
    assert done["status"] == "completed", done["error"]
    assert done["prompt_name"] == "answer" and done["prompt_version"].startswith("2+")
    assert done["settings"]["mode"] == "text" and done["settings"]["request"]["limit"] == 2
    assert len(done["items"]) == 2 and done["items"][0]["answer"]
    async with resources.sessionmaker() as session:
        run = await session.get(EvalRun, uuid.UUID(queued["id"]))
    assert run is not None and run.created_by_id == admin.id and run.status == EvalRunStatus.COMPLETED


async def test_eval_projects_are_invisible_to_admins_and_members(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, resources: Resources, tmp_path: Path
) -> None:
    admin = await factory.user(is_admin=True)
    await a_stored_run(settings, resources, tmp_path)
    async with resources.sessionmaker() as session:
        eval_project = (await session.scalars(sa.select(EvalDataset.project_id))).one()
    async with resources.sessionmaker() as session, session.begin():
        await register_model(session, name="static/tokenlearn-64", dimensions=64)
    own = await client.post("/api/v1/projects", json={"title": "Solar farm"}, headers=admin.headers)
    assert own.status_code == 201

    projects = (await client.get("/api/v1/projects", headers=admin.headers)).json()
    assert [p["title"] for p in projects["items"]] == ["Solar farm"] and projects["total"] == 1
    assert (await client.get(f"/api/v1/projects/{eval_project}", headers=admin.headers)).status_code == 404
    searched = await client.get(
        f"/api/v1/ai/search/{eval_project}", params={"q": "solar"}, headers=admin.headers
    )
    assert searched.status_code == 404
    everywhere = await client.get(
        "/api/v1/search", params={"q": "solar panels electricity"}, headers=admin.headers
    )
    assert everywhere.status_code == 200
    assert all(hit["project_id"] != str(eval_project) for hit in everywhere.json()["results"])
    # The eval corpus does match the query: it is hidden, not missing.
    async with resources.sessionmaker() as session:
        count = await session.scalar(
            sa.text("SELECT count(*) FROM chunks WHERE project_id = :p AND content ILIKE '%solar%'"),
            {"p": eval_project},
        )
    assert count == 1
