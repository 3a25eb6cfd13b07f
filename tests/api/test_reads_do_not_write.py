"""GET and HEAD requests run in autocommit (api/deps.py): that is only sound while no GET route writes,
locks or depends on a transaction. This walks every GET route of the app and fails on any statement
that would need one, so a new route that breaks the assumption is caught here, not in production."""

from __future__ import annotations

import re
import uuid

import httpx
from fastapi import FastAPI

from api.resources import Resources
from core.settings import Settings
from tests.api.crud_helpers import API, make_client, make_document, make_meeting, make_project
from tests.api.test_round_trips import statements
from tests.conftest import Factory
from tests.ingestion.helpers import drain

NEEDS_A_TRANSACTION = re.compile(
    r"^\s*(INSERT|UPDATE|DELETE)\b|FOR (NO KEY )?UPDATE|pg_advisory", re.IGNORECASE | re.MULTILINE
)
PARAM = re.compile(r"{(\w+)(?::\w+)?}")


async def test_no_get_route_writes_or_locks(
    app: FastAPI, client: httpx.AsyncClient, factory: Factory, settings: Settings, resources: Resources
) -> None:
    admin = await factory.user(is_admin=True)
    project = await make_project(client, admin)
    values = {
        "project_id": project["id"],
        "meeting_id": (await make_meeting(client, admin, project["id"]))["id"],
        "document_id": (await make_document(client, admin, project["id"]))["id"],
        "client_id": (await make_client(client, admin))["id"],
        "user_id": str(admin.id),
        "chunk_id": "1",
    }
    await drain(settings, resources)  # a serving model and an index, so the AI routes really run
    walked = []
    for template, operations in app.openapi()["paths"].items():
        if "get" not in operations:
            continue
        if template == f"{API}/events":
            continue  # no id that could be unknown: it streams forever (test_feed checks that it only reads)
        # streams answer 404 for an unknown id before they start; a real one would stream forever
        known = {} if "events" in template or "/streams/" in template else values
        path = PARAM.sub(lambda m, known=known: known.get(m.group(1), str(uuid.uuid4())), template)
        with statements(resources) as seen:
            r = await client.get(path, params={"q": "presupuesto"}, headers=admin.headers)
        assert r.status_code < 500, (template, r.text)
        offending = [sql for sql in seen if NEEDS_A_TRANSACTION.search(sql)]
        assert offending == [], (template, offending)
        walked.append(template)
    assert len(walked) > 20 and f"{API}/projects/{{project_id}}" in walked
