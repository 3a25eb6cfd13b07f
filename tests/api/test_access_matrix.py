"""Every project- and user-scoped CRUD route × every kind of caller, one fresh world per cell.

The world: a project (with a client, a document and a meeting) owned by `owner`, with `viewer`, `editor`
and a second viewer `bystander` as members; `stranger` is a user with no membership and `admin` an admin
who is not a member either. A project the caller may not see answers 404 exactly like a random id.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from core.models import MemberRole
from tests.api.crud_helpers import API, make_client, make_document, make_meeting, make_project, random_id
from tests.conftest import Actor, Factory

ROLES = ("anonymous", "non-member", "viewer", "editor", "owner", "admin")


@dataclass(frozen=True)
class Upload:
    """A multipart body with one file, for the upload route."""

    filename: str
    content: bytes
    content_type: str


Body = dict[str, Any] | Upload | None


def by_role(
    anonymous: int, non_member: int, viewer: int, editor: int, owner: int, admin: int
) -> dict[str, int]:
    return dict(zip(ROLES, (anonymous, non_member, viewer, editor, owner, admin), strict=True))


NOTE = Upload("notes.md", b"# Notas\nPrimera reunion.", "text/markdown")
DOCUMENT = {"title": "T", "content": "c"}
MEETING = {"project_id": "{project}", "title": "Demo"}

# (method, path template, body, expected status per caller). Ids in braces are filled in from the world.
# Client writes belong to the client's creator (the owner) or an admin; deleting a client that still has
# a project is a 409 once the caller is allowed to try.
MATRIX: list[tuple[str, str, Body, dict[str, int]]] = [
    # by_role(anonymous, non-member, viewer, editor, owner, admin)
    ("GET", "/projects/{project}", None, by_role(401, 404, 200, 200, 200, 200)),
    ("PUT", "/projects/{project}", {"progress": 40}, by_role(401, 404, 403, 200, 200, 200)),
    ("DELETE", "/projects/{project}", None, by_role(401, 404, 403, 403, 204, 204)),
    ("GET", "/projects/{project}/stats", None, by_role(401, 404, 200, 200, 200, 200)),
    ("GET", "/projects/{project}/members", None, by_role(401, 404, 200, 200, 200, 200)),
    ("POST", "/projects/{project}/members", {"user_id": "{outsider}"}, by_role(401, 404, 403, 403, 201, 201)),
    ("DELETE", "/projects/{project}/members/{bystander}", None, by_role(401, 404, 403, 403, 204, 204)),
    ("GET", "/projects/{project}/documents", None, by_role(401, 404, 200, 200, 200, 200)),
    ("POST", "/projects/{project}/documents", DOCUMENT, by_role(401, 404, 403, 201, 201, 201)),
    ("POST", "/projects/{project}/documents/upload", NOTE, by_role(401, 404, 403, 201, 201, 201)),
    ("GET", "/projects/documents/{document}", None, by_role(401, 404, 200, 200, 200, 200)),
    ("PUT", "/projects/documents/{document}", {"title": "New"}, by_role(401, 404, 403, 200, 200, 200)),
    ("DELETE", "/projects/documents/{document}", None, by_role(401, 404, 403, 204, 204, 204)),
    ("GET", "/meetings?project_id={project}", None, by_role(401, 404, 200, 200, 200, 200)),
    ("POST", "/meetings", MEETING, by_role(401, 404, 403, 201, 201, 201)),
    ("GET", "/meetings/{meeting}", None, by_role(401, 404, 200, 200, 200, 200)),
    ("PUT", "/meetings/{meeting}", {"status": "in-progress"}, by_role(401, 404, 403, 200, 200, 200)),
    ("DELETE", "/meetings/{meeting}", None, by_role(401, 404, 403, 204, 204, 204)),
    ("GET", "/clients/{client}", None, by_role(401, 404, 200, 200, 200, 200)),
    ("PUT", "/clients/{client}", {"city": "Madrid"}, by_role(401, 404, 403, 403, 200, 200)),
    ("DELETE", "/clients/{client}", None, by_role(401, 404, 403, 403, 409, 409)),
    ("GET", "/clients/{client}/projects", None, by_role(401, 404, 200, 200, 200, 200)),
    # User-scoped: the target is the editor, so "editor" is the caller acting on their own record.
    ("GET", "/users/{editor}", None, by_role(401, 404, 404, 200, 404, 200)),
    ("PUT", "/users/{editor}", {"full_name": "Eve"}, by_role(401, 404, 404, 200, 404, 200)),
    ("DELETE", "/users/{editor}", None, by_role(401, 404, 404, 204, 404, 204)),
    ("GET", "/users/{editor}/stats", None, by_role(401, 404, 404, 200, 404, 200)),
    ("GET", "/users", None, by_role(401, 403, 403, 403, 403, 200)),
    ("POST", "/users", {"email": "new@example.com"}, by_role(401, 403, 403, 403, 403, 201)),
]

CASES = [
    pytest.param(method, path, body, role, expected[role], id=f"{method} {path} as {role}")
    for method, path, body, expected in MATRIX
    for role in ROLES
]


@dataclass
class World:
    callers: dict[str, Actor | None]
    ids: dict[str, str]


async def build_world(client: httpx.AsyncClient, factory: Factory) -> World:
    owner = await factory.user()
    client_row = await make_client(client, owner)
    project = await make_project(client, owner, client_id=client_row["id"])
    document = await make_document(client, owner, project["id"])
    meeting = await make_meeting(client, owner, project["id"])
    members: dict[str, Actor] = {}
    for name, role in (
        ("viewer", MemberRole.VIEWER),
        ("editor", MemberRole.EDITOR),
        ("bystander", MemberRole.VIEWER),
    ):
        members[name] = await factory.user()
        await factory.member(project["id"], members[name], role)
    stranger, outsider = await factory.user(), await factory.user()
    admin = await factory.user(is_admin=True)
    callers: dict[str, Actor | None] = {
        "anonymous": None,
        "non-member": stranger,
        "viewer": members["viewer"],
        "editor": members["editor"],
        "owner": owner,
        "admin": admin,
    }
    ids = {
        "project": project["id"],
        "client": client_row["id"],
        "document": document["id"],
        "meeting": meeting["id"],
        "editor": str(members["editor"].id),
        "bystander": str(members["bystander"].id),
        "outsider": str(outsider.id),
    }
    return World(callers=callers, ids=ids)


def fill(template: Any, ids: dict[str, str]) -> Any:
    if isinstance(template, str):
        return re.sub(r"\{(\w+)\}", lambda match: ids[match.group(1)], template)
    if isinstance(template, dict):
        return {key: fill(value, ids) for key, value in template.items()}
    return template


async def call(
    http: httpx.AsyncClient, method: str, path: str, body: Body, ids: dict[str, str], caller: Actor | None
) -> httpx.Response:
    headers = caller.headers if caller else {}
    url = API + fill(path, ids)
    if isinstance(body, Upload):
        files = {"file": (body.filename, body.content, body.content_type)}
        return await http.request(method, url, files=files, headers=headers)
    if body is None:
        return await http.request(method, url, headers=headers)
    return await http.request(method, url, json=fill(body, ids), headers=headers)


@pytest.mark.parametrize(("method", "path", "body", "role", "expected"), CASES)
async def test_access(
    client: httpx.AsyncClient, factory: Factory, method: str, path: str, body: Body, role: str, expected: int
) -> None:
    world = await build_world(client, factory)
    caller = world.callers[role]

    response = await call(client, method, path, body, world.ids, caller)

    assert response.status_code == expected, response.text
    if expected >= 400:
        assert set(response.json()) == {"error"}, response.text
    if role == "non-member" and expected == 404:
        # Hidden and nonexistent are indistinguishable: the same bytes for a random id.
        unknown = {name: random_id() for name in world.ids}
        if "{outsider}" in str(body):
            unknown["outsider"] = world.ids["outsider"]
        missing = await call(client, method, path, body, unknown, caller)
        assert missing.status_code == 404
        assert missing.content == response.content
