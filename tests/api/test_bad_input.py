"""Bad input: each request gets the one error shape with the right status and changes nothing stored.

The world: `ana` owns a project (2026-01-10 → 2026-06-30) with a client, a document and a meeting;
`bob` owns the same set; `admin` is an admin. Ids in braces are filled in from the world.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from api.resources import Resources
from tests.api.crud_helpers import (
    API,
    assert_error,
    make_client,
    make_document,
    make_meeting,
    make_project,
    snapshot,
)
from tests.conftest import Factory


@dataclass(frozen=True)
class Bad:
    name: str
    method: str
    path: str
    status: int
    json: Any = None
    raw: bytes | None = None  # sent as-is with a JSON content type
    caller: str = "ana"
    code: str | None = None
    query: dict[str, str] = field(default_factory=dict)


P = "/projects/{project}"
MEETING = "/meetings/{meeting}"
DOCUMENT = "/projects/documents/{document}"

CASES = [
    # malformed JSON
    Bad("malformed-json-create", "POST", "/projects", 400, raw=b'{"title": "P",', code="malformed_json"),
    Bad("malformed-json-update", "PUT", P, 400, raw=b"{progress: 5}", code="malformed_json"),
    Bad("malformed-json-meeting", "POST", "/meetings", 400, raw=b'{"title": "M"}}', code="malformed_json"),
    # wrong types
    Bad("wrong-type-progress", "POST", "/projects", 422, {"title": "P", "progress": "lots"}),
    Bad("wrong-type-title", "POST", "/projects", 422, {"title": ["P"]}),
    Bad("wrong-type-budget", "PUT", P, 422, {"budget": {"amount": 5}}),
    Bad("wrong-type-content", "POST", P + "/documents", 422, {"title": "T", "content": 5}),
    Bad("body-not-an-object", "POST", "/projects", 422, ["P"]),
    Bad("wrong-type-uuid-in-body", "POST", "/meetings", 422, {"project_id": "abc", "title": "M"}),
    # unknown fields (typos and mass assignment)
    Bad("unknown-field-create", "POST", "/projects", 422, {"title": "P", "owner_id": "{bob}"}),
    Bad("unknown-field-update", "PUT", P, 422, {"titel": "P2"}),
    Bad("unknown-field-user", "PUT", "/users/{ana}", 422, {"email": "new@example.com"}),
    Bad("unknown-field-meeting", "PUT", MEETING, 422, {"room_id": "mine"}),
    Bad("unknown-field-document", "PUT", DOCUMENT, 422, {"project_id": "{bob_project}"}),
    # out-of-range numbers
    Bad("progress-over-100", "POST", "/projects", 422, {"title": "P", "progress": 101}),
    Bad("progress-under-0", "PUT", P, 422, {"progress": -1}),
    Bad("budget-negative-create", "POST", "/projects", 422, {"title": "P", "budget": -1}),
    Bad("budget-negative-update", "PUT", P, 422, {"budget": -0.01}),
    Bad("hours-negative", "PUT", P, 422, {"actual_hours": -3}),
    # dates and times out of order
    Bad(
        "end-before-start-create",
        "POST",
        "/projects",
        422,
        {"title": "P", "start_date": "2026-05-01", "end_date": "2026-04-01"},
    ),
    Bad("end-before-start-update-end-only", "PUT", P, 422, {"end_date": "2025-12-31"}),
    Bad("end-before-start-update-start-only", "PUT", P, 422, {"start_date": "2026-07-01"}),
    Bad(
        "meeting-end-before-start-create",
        "POST",
        "/meetings",
        422,
        {
            "project_id": "{project}",
            "title": "M",
            "start_time": "2026-12-01T10:00:00Z",
            "end_time": "2026-12-01T09:00:00Z",
        },
    ),
    Bad("meeting-end-before-start-update", "PUT", MEETING, 422, {"end_time": "2026-12-01T09:59:00Z"}),
    Bad(
        "meeting-naive-datetime-create",
        "POST",
        "/meetings",
        422,
        {"project_id": "{project}", "title": "M", "start_time": "2026-12-01T10:00:00"},
    ),
    Bad("meeting-naive-datetime-update", "PUT", MEETING, 422, {"end_time": "2026-12-01T11:00:00"}),
    # unknown enum values
    Bad("unknown-project-status", "POST", "/projects", 422, {"title": "P", "status": "done"}),
    Bad("unknown-project-priority", "PUT", P, 422, {"priority": "critical"}),
    Bad("unknown-client-status", "POST", "/clients", 422, {"name": "C", "status": "vip"}),
    Bad("unknown-meeting-status", "PUT", MEETING, 422, {"status": "paused"}),
    Bad("unknown-member-role", "POST", P + "/members", 422, {"user_id": "{bob}", "role": "admin"}),
    Bad("unknown-status-filter", "GET", "/projects", 422, query={"status": "done"}),
    # pagination and sorting
    Bad("limit-over-100", "GET", "/projects", 422, query={"limit": "101"}),
    Bad("limit-under-1", "GET", "/clients", 422, query={"limit": "0"}),
    Bad("offset-negative", "GET", "/meetings", 422, query={"offset": "-1"}),
    Bad("limit-over-100-documents", "GET", P + "/documents", 422, query={"limit": "1000"}),
    Bad("limit-under-1-users", "GET", "/users", 422, caller="admin", query={"limit": "-5"}),
    Bad("unknown-sort", "GET", "/projects", 422, query={"sort": "password_hash"}),
    Bad("unknown-sort-users", "GET", "/users", 422, caller="admin", query={"sort": "-password_hash"}),
    # conflicts
    Bad("duplicate-email", "POST", "/users", 409, {"email": "{ana_email}"}, caller="admin"),
    Bad("duplicate-email-other-case", "POST", "/users", 409, {"email": "{ANA_EMAIL}"}, caller="admin"),
    # other users' objects look like nothing at all
    Bad("others-project-get", "GET", "/projects/{bob_project}", 404),
    Bad("others-project-update", "PUT", "/projects/{bob_project}", 404, {"title": "mine"}),
    Bad("others-project-delete", "DELETE", "/projects/{bob_project}", 404),
    Bad("others-project-stats", "GET", "/projects/{bob_project}/stats", 404),
    Bad("others-project-members", "POST", "/projects/{bob_project}/members", 404, {"user_id": "{ana}"}),
    Bad(
        "others-project-new-document",
        "POST",
        "/projects/{bob_project}/documents",
        404,
        {"title": "T", "content": "c"},
    ),
    Bad(
        "others-project-new-meeting", "POST", "/meetings", 404, {"project_id": "{bob_project}", "title": "M"}
    ),
    Bad("others-document-update", "PUT", "/projects/documents/{bob_document}", 404, {"title": "mine"}),
    Bad("others-document-delete", "DELETE", "/projects/documents/{bob_document}", 404),
    Bad("others-meeting-update", "PUT", "/meetings/{bob_meeting}", 404, {"status": "cancelled"}),
    Bad("others-meeting-delete", "DELETE", "/meetings/{bob_meeting}", 404),
    Bad("others-client-update", "PUT", "/clients/{bob_client}", 404, {"name": "mine"}),
    Bad("others-client-delete", "DELETE", "/clients/{bob_client}", 404),
    Bad("others-user-update", "PUT", "/users/{bob}", 404, {"full_name": "mine"}),
    Bad("others-user-delete", "DELETE", "/users/{bob}", 404),
    Bad("invisible-client-on-create", "POST", "/projects", 404, {"title": "P", "client_id": "{bob_client}"}),
    Bad("invisible-client-on-update", "PUT", P, 404, {"client_id": "{bob_client}"}),
    # ids that are not UUIDs
    Bad("non-uuid-project", "GET", "/projects/abc", 422),
    Bad("non-uuid-meeting", "PUT", "/meetings/123", 422, {"title": "M"}),
    Bad("non-uuid-document", "DELETE", "/projects/documents/not-a-uuid", 422),
    Bad("non-uuid-user", "GET", "/users/x/stats", 422),
    Bad("non-uuid-member", "DELETE", P + "/members/nope", 422),
    Bad("non-uuid-client", "DELETE", "/clients/1", 422),
    Bad("non-uuid-filter", "GET", "/projects", 422, query={"client_id": "abc"}),
    # null for a field that cannot be empty
    Bad("null-project-title", "PUT", P, 422, {"title": None}),
    Bad("null-project-progress", "PUT", P, 422, {"progress": None}),
    Bad("null-project-status", "PUT", P, 422, {"status": None, "title": "P2"}),
    Bad("null-client-name", "PUT", "/clients/{client}", 422, {"name": None}),
    Bad("null-client-status", "PUT", "/clients/{client}", 422, {"status": None}),
    Bad("null-document-content", "PUT", DOCUMENT, 422, {"content": None}),
    Bad("null-meeting-title", "PUT", MEETING, 422, {"title": None}),
    Bad("null-meeting-status", "PUT", MEETING, 422, {"status": None}),
    Bad("null-user-full-name", "PUT", "/users/{ana}", 422, {"full_name": None}),
    Bad("null-user-is-admin", "PUT", "/users/{bob}", 422, {"is_admin": None}, caller="admin"),
    # members: exactly one way to name the user
    Bad("member-both-ids", "POST", P + "/members", 422, {"user_id": "{bob}", "email": "{bob_email}"}),
    Bad("member-no-id", "POST", P + "/members", 422, {"role": "viewer"}),
]


async def build_world(
    client: httpx.AsyncClient, factory: Factory
) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    ana, bob, admin = await factory.user(), await factory.user(), await factory.user(is_admin=True)
    ids = {"ana": str(ana.id), "bob": str(bob.id), "ana_email": ana.user.email, "bob_email": bob.user.email}
    ids["ANA_EMAIL"] = ana.user.email.upper()
    for prefix, owner in (("", ana), ("bob_", bob)):
        client_row = await make_client(client, owner)
        project = await make_project(
            client, owner, client_id=client_row["id"], start_date="2026-01-10", end_date="2026-06-30"
        )
        ids[prefix + "client"] = client_row["id"]
        ids[prefix + "project"] = project["id"]
        ids[prefix + "document"] = (await make_document(client, owner, project["id"]))["id"]
        meeting = await make_meeting(
            client, owner, project["id"], start_time="2026-12-01T10:00:00Z", end_time="2026-12-01T11:00:00Z"
        )
        ids[prefix + "meeting"] = meeting["id"]
    headers = {"ana": ana.headers, "bob": bob.headers, "admin": admin.headers}
    return headers, ids


def fill(template: Any, ids: dict[str, str]) -> Any:
    if isinstance(template, str):
        return re.sub(r"\{(\w+)\}", lambda match: ids[match.group(1)], template)
    if isinstance(template, dict):
        return {key: fill(value, ids) for key, value in template.items()}
    if isinstance(template, list):
        return [fill(value, ids) for value in template]
    return template


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
async def test_bad_input_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, factory: Factory, resources: Resources, case: Bad
) -> None:
    headers, ids = await build_world(client, factory)
    before = await snapshot(resources)
    request: dict[str, Any] = {"headers": dict(headers[case.caller]), "params": case.query}
    if case.raw is not None:
        request["content"] = case.raw
        request["headers"]["Content-Type"] = "application/json"
    elif case.json is not None:
        request["json"] = fill(case.json, ids)

    response = await client.request(case.method, API + fill(case.path, ids), **request)

    assert_error(response, case.status, case.code)
    assert await snapshot(resources) == before
