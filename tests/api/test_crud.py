"""What a dashboard user sees through the CRUD API: clients, projects, documents, meetings, members,
stats, lists and users, plus the outbox rows that every artifact write leaves behind."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from api.resources import Resources
from core.models import Document, Meeting, MemberRole, OutboxAction, SourceType, User
from tests.api.crud_helpers import (
    API,
    assert_error,
    make_client,
    make_document,
    make_meeting,
    make_project,
    outbox_rows,
)
from tests.conftest import Factory


async def count(resources: Resources, model: Any, *where: Any) -> int:
    async with resources.sessionmaker() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0)


# ---------------------------------------------------------------- clients


async def test_client_lifecycle(client: httpx.AsyncClient, factory: Factory) -> None:
    ana = await factory.user()
    created = await make_client(client, ana, company="Acme S.A.", email="hola@acme.es", status="active")
    assert created["name"] == "Acme"
    assert created["status"] == "active"
    assert created["priority"] == "medium"
    assert created["created_by_id"] == str(ana.id)
    url = f"{API}/clients/{created['id']}"

    r = await client.get(url, headers=ana.headers)
    assert r.status_code == 200
    assert r.json() == created

    r = await client.put(url, json={"city": "Sevilla", "priority": "high"}, headers=ana.headers)
    assert r.status_code == 200, r.text
    assert r.json()["city"] == "Sevilla"
    assert r.json()["priority"] == "high"
    assert r.json()["company"] == "Acme S.A."  # untouched fields stay

    r = await client.delete(url, headers=ana.headers)
    assert r.status_code == 204
    assert_error(await client.get(url, headers=ana.headers), 404)


async def test_client_with_projects_cannot_be_deleted(client: httpx.AsyncClient, factory: Factory) -> None:
    ana = await factory.user()
    acme = await make_client(client, ana)
    project = await make_project(client, ana, client_id=acme["id"])

    assert_error(
        await client.delete(f"{API}/clients/{acme['id']}", headers=ana.headers), 409, "client_in_use"
    )
    r = await client.get(f"{API}/clients/{acme['id']}/projects", headers=ana.headers)
    assert [item["id"] for item in r.json()["items"]] == [project["id"]]


async def test_client_list_filters(client: httpx.AsyncClient, factory: Factory) -> None:
    ana = await factory.user()
    await make_client(client, ana, name="Acme", status="active", priority="high")
    await make_client(client, ana, name="Beta", company="Acme Group", status="prospect")
    await make_client(client, ana, name="Gamma", status="inactive", priority="low")
    await make_client(client, await factory.user(), name="Acme Hidden")  # someone else's

    async def names(query: str) -> list[str]:
        r = await client.get(f"{API}/clients?{query}", headers=ana.headers)
        assert r.status_code == 200, r.text
        return [item["name"] for item in r.json()["items"]]

    assert await names("sort=name") == ["Acme", "Beta", "Gamma"]
    assert await names("q=acme&sort=name") == ["Acme", "Beta"]
    assert await names("status=inactive") == ["Gamma"]
    assert await names("priority=high") == ["Acme"]
    assert await names("sort=-name&limit=2") == ["Gamma", "Beta"]


# ---------------------------------------------------------------- projects


async def test_project_lifecycle(client: httpx.AsyncClient, factory: Factory) -> None:
    ana = await factory.user()
    created = await make_project(
        client, ana, description="Rediseño", budget=12000, progress=30, start_date="2026-01-10"
    )
    assert created["owner_id"] == str(ana.id)
    assert created["budget"] == 12000.0
    assert created["progress"] == 30
    assert created["status"] == "planned"
    url = f"{API}/projects/{created['id']}"

    r = await client.get(url, headers=ana.headers)
    assert r.status_code == 200
    assert r.json() == created

    r = await client.put(url, json={"status": "in-progress", "end_date": "2026-06-30"}, headers=ana.headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in-progress"
    assert r.json()["end_date"] == "2026-06-30"
    assert r.json()["description"] == "Rediseño"
    assert r.json()["start_date"] == "2026-01-10"

    r = await client.put(url, json={"budget": None}, headers=ana.headers)
    assert r.status_code == 200
    assert r.json()["budget"] is None

    r = await client.get(f"{API}/projects/{created['id']}/members", headers=ana.headers)
    assert [(m["user_id"], m["role"]) for m in r.json()] == [(str(ana.id), "owner")]

    assert (await client.delete(url, headers=ana.headers)).status_code == 204
    assert_error(await client.get(url, headers=ana.headers), 404)


async def test_deleting_a_project_cascades_and_records_a_delete(
    client: httpx.AsyncClient, factory: Factory, resources: Resources
) -> None:
    ana = await factory.user()
    project = await make_project(client, ana)
    document = await make_document(client, ana, project["id"])
    meeting = await make_meeting(client, ana, project["id"])

    r = await client.delete(f"{API}/projects/{project['id']}", headers=ana.headers)
    assert r.status_code == 204

    assert await count(resources, Document, Document.project_id == project["id"]) == 0
    assert await count(resources, Meeting, Meeting.project_id == project["id"]) == 0
    for path in (f"/projects/documents/{document['id']}", f"/meetings/{meeting['id']}"):
        assert_error(await client.get(API + path, headers=ana.headers), 404)
    last = (await outbox_rows(resources))[-1]
    assert (last.source_type, str(last.source_id), last.action) == (
        SourceType.PROJECT,
        project["id"],
        OutboxAction.DELETE,
    )


async def test_project_list_paginates_filters_and_sorts(client: httpx.AsyncClient, factory: Factory) -> None:
    ana = await factory.user()
    acme = await make_client(client, ana)
    titles = ["Delta", "alpha", "Charlie", "bravo", "Echo"]
    for index, title in enumerate(titles):
        await make_project(
            client,
            ana,
            title=title,
            status="in-progress" if index % 2 else "planned",
            priority="urgent" if index == 4 else "low",
            client_id=acme["id"] if index < 2 else None,
        )
    await make_project(client, await factory.user(), title="Alpha hidden")  # not ana's

    async def page(query: str) -> dict[str, Any]:
        r = await client.get(f"{API}/projects?{query}", headers=ana.headers)
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    def titles_of(body: dict[str, Any]) -> list[str]:
        return [item["title"] for item in body["items"]]

    everything = await page("limit=100")
    assert everything["total"] == 5
    assert everything["limit"] == 100
    assert everything["offset"] == 0
    assert titles_of(everything) == list(reversed(titles))  # newest first by default
    assert titles_of(await page("sort=-created_at")) == list(reversed(titles))
    assert titles_of(await page("sort=created_at")) == titles
    assert titles_of(await page("sort=title")) == sorted(titles)

    second = await page("sort=created_at&limit=2&offset=2")
    assert titles_of(second) == ["Charlie", "bravo"]
    assert (second["total"], second["limit"], second["offset"]) == (5, 2, 2)
    beyond = await page("limit=2&offset=10")
    assert beyond["items"] == []
    assert beyond["total"] == 5

    assert titles_of(await page("status=in-progress&sort=created_at")) == ["alpha", "bravo"]
    assert titles_of(await page("priority=urgent")) == ["Echo"]
    assert titles_of(await page(f"client_id={acme['id']}&sort=created_at")) == ["Delta", "alpha"]
    assert titles_of(await page("q=ALPHA")) == ["alpha"]
    assert (await page("q=%25"))["total"] == 0  # "%" is a character to look for, not a wildcard

    r = await client.get(f"{API}/projects?sort=budget_secret", headers=ana.headers)
    assert_error(r, 422)
    assert_error(await client.get(f"{API}/projects?limit=101", headers=ana.headers), 422)


# ---------------------------------------------------------------- project stats


async def test_project_stats_are_computed_from_its_data(client: httpx.AsyncClient, factory: Factory) -> None:
    ana = await factory.user()
    today = date.today()
    project = await make_project(
        client,
        ana,
        progress=20,
        start_date=str(today - timedelta(days=10)),
        end_date=str(today + timedelta(days=30)),
        deadline=str(today + timedelta(days=20)),
        budget=8000,
        hourly_rate=50,
        estimated_hours=100,
        actual_hours=40,
    )
    past = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    future = past + timedelta(days=10)
    spans = [(past, past + timedelta(minutes=90)), (past, past + timedelta(hours=1))]
    for start, end in spans:  # two completed meetings: 2.5 hours
        meeting = await make_meeting(
            client, ana, project["id"], start_time=start.isoformat(), end_time=end.isoformat()
        )
        r = await client.put(
            f"{API}/meetings/{meeting['id']}", json={"status": "completed"}, headers=ana.headers
        )
        assert r.status_code == 200, r.text
    await make_meeting(client, ana, project["id"], start_time=future.isoformat())
    cancelled = await make_meeting(client, ana, project["id"], start_time=future.isoformat())
    await client.put(f"{API}/meetings/{cancelled['id']}", json={"status": "cancelled"}, headers=ana.headers)
    await make_document(client, ana, project["id"])

    r = await client.get(f"{API}/projects/{project['id']}/stats", headers=ana.headers)

    assert r.status_code == 200, r.text
    stats = r.json()
    assert stats == {
        "project_id": project["id"],
        "progress": 20,
        "meetings_total": 4,
        "meetings_completed": 2,
        "meetings_upcoming": 1,
        "meeting_hours": 2.5,
        "documents": 1,
        "members": 1,
        "estimated_hours": 100.0,
        "actual_hours": 40.0,
        "hours_burn": 0.4,
        "cost": 2000.0,
        "budget": 8000.0,
        "budget_burn": 0.25,
        "time_elapsed": 0.25,
        "schedule_variance": -0.05,
        "days_to_deadline": 20,
    }


async def test_stats_without_numbers_are_null(client: httpx.AsyncClient, factory: Factory) -> None:
    ana = await factory.user()
    project = await make_project(client, ana)
    stats = (await client.get(f"{API}/projects/{project['id']}/stats", headers=ana.headers)).json()
    assert stats["meetings_total"] == 0
    assert stats["meeting_hours"] == 0
    for key in ("hours_burn", "cost", "budget_burn", "time_elapsed", "days_to_deadline"):
        assert stats[key] is None, key


# ---------------------------------------------------------------- documents


async def test_document_lifecycle(client: httpx.AsyncClient, factory: Factory) -> None:
    ana = await factory.user()
    project = await make_project(client, ana)
    created = await make_document(client, ana, project["id"], title="Acta", content="Hola mundo")
    assert created["content"] == "Hola mundo"
    assert created["size"] == 10
    assert created["mime_type"] == "text/plain"
    url = f"{API}/projects/documents/{created['id']}"

    r = await client.get(url, headers=ana.headers)
    assert r.status_code == 200
    assert r.json() == created

    r = await client.put(url, json={"content": "Adiós"}, headers=ana.headers)
    assert r.status_code == 200, r.text
    assert r.json()["content"] == "Adiós"
    assert r.json()["title"] == "Acta"
    assert r.json()["size"] == 5

    r = await client.get(f"{API}/projects/{project['id']}/documents", headers=ana.headers)
    assert r.json()["total"] == 1
    listed = r.json()["items"][0]
    assert listed["id"] == created["id"]
    assert "content" not in listed

    assert (await client.delete(url, headers=ana.headers)).status_code == 204
    assert_error(await client.get(url, headers=ana.headers), 404)


@pytest.mark.parametrize(
    ("filename", "content_type", "mime_type"),
    [("notes.txt", "text/plain", "text/plain"), ("README.md", "text/markdown", "text/markdown")],
)
async def test_upload_text_document(
    client: httpx.AsyncClient, factory: Factory, filename: str, content_type: str, mime_type: str
) -> None:
    ana = await factory.user()
    project = await make_project(client, ana)
    text = "# Reunión\nAcordamos la fecha de entrega.\n"

    r = await client.post(
        f"{API}/projects/{project['id']}/documents/upload",
        files={"file": (filename, text.encode(), content_type)},
        headers=ana.headers,
    )

    assert r.status_code == 201, r.text
    document = r.json()
    assert document["content"] == text
    assert document["title"] == filename
    assert document["source_filename"] == filename
    assert document["mime_type"] == mime_type


async def test_upload_takes_a_title(client: httpx.AsyncClient, factory: Factory) -> None:
    ana = await factory.user()
    project = await make_project(client, ana)
    r = await client.post(
        f"{API}/projects/{project['id']}/documents/upload",
        files={"file": ("a.txt", b"texto", "text/plain")},
        data={"title": "Minuta"},
        headers=ana.headers,
    )
    assert r.status_code == 201
    assert r.json()["title"] == "Minuta"


@pytest.mark.parametrize(
    ("filename", "raw", "status"),
    [
        ("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", 415),
        ("latin1.txt", "año de reuniones".encode("latin-1"), 422),
        ("contract.pdf", b"%PDF-1.7\n1 0 obj\n", 422),
    ],
    ids=["binary", "not-utf8", "damaged-pdf"],
)
async def test_upload_rejects_what_cannot_be_read(
    client: httpx.AsyncClient, factory: Factory, resources: Resources, filename: str, raw: bytes, status: int
) -> None:
    ana = await factory.user()
    project = await make_project(client, ana)
    r = await client.post(
        f"{API}/projects/{project['id']}/documents/upload",
        files={"file": (filename, raw, "application/octet-stream")},
        headers=ana.headers,
    )
    assert_error(r, status)
    assert await count(resources, Document) == 0


# ---------------------------------------------------------------- meetings


async def test_meeting_lifecycle_and_room(client: httpx.AsyncClient, factory: Factory) -> None:
    ana = await factory.user()
    project = await make_project(client, ana)
    start = "2026-12-01T10:00:00+01:00"
    first = await make_meeting(client, ana, project["id"], start_time=start, description="Semanal")
    second = await make_meeting(client, ana, project["id"])

    assert first["status"] == "scheduled"
    assert first["created_by_id"] == str(ana.id)
    assert datetime.fromisoformat(first["start_time"]) == datetime.fromisoformat(start)
    for meeting in (first, second):
        # Unguessable: a long random token in a URL-safe alphabet.
        assert re.fullmatch(r"v1tr0-[A-Za-z0-9_-]{24,}", meeting["room_id"]), meeting["room_id"]
    assert first["room_id"] != second["room_id"]

    url = f"{API}/meetings/{first['id']}"
    r = await client.put(url, json={"title": "Semanal (movida)", "description": None}, headers=ana.headers)
    assert_error(r, 422)
    r = await client.put(url, json={"title": "Semanal (movida)"}, headers=ana.headers)
    assert r.status_code == 200
    assert r.json()["title"] == "Semanal (movida)"
    assert r.json()["room_id"] == first["room_id"]  # the room stays the same

    r = await client.get(f"{API}/meetings?project_id={project['id']}", headers=ana.headers)
    assert r.json()["total"] == 2

    assert (await client.delete(url, headers=ana.headers)).status_code == 204
    assert_error(await client.get(url, headers=ana.headers), 404)


async def test_meeting_status_only_moves_forward(client: httpx.AsyncClient, factory: Factory) -> None:
    ana = await factory.user()
    project = await make_project(client, ana)
    meeting = await make_meeting(client, ana, project["id"])
    url = f"{API}/meetings/{meeting['id']}"

    for target in ("in-progress", "completed"):
        r = await client.put(url, json={"status": target}, headers=ana.headers)
        assert r.status_code == 200, r.text
        assert r.json()["status"] == target

    for backwards in ("scheduled", "in-progress", "cancelled"):
        r = await client.put(url, json={"status": backwards}, headers=ana.headers)
        assert_error(r, 409, "invalid_transition")
    assert (await client.get(url, headers=ana.headers)).json()["status"] == "completed"


# ---------------------------------------------------------------- members


async def test_members_by_email_and_id_and_role_change(client: httpx.AsyncClient, factory: Factory) -> None:
    ana = await factory.user()
    bea, carl = await factory.user("bea@example.com"), await factory.user()
    project = await make_project(client, ana)
    url = f"{API}/projects/{project['id']}/members"

    r = await client.post(url, json={"email": "bea@example.COM", "role": "editor"}, headers=ana.headers)
    assert r.status_code == 201, r.text
    assert r.json()["user_id"] == str(bea.id)
    assert r.json()["role"] == "editor"
    r = await client.post(url, json={"user_id": str(carl.id)}, headers=ana.headers)
    assert r.status_code == 201
    assert r.json()["role"] == "viewer"

    r = await client.post(url, json={"user_id": str(carl.id), "role": "owner"}, headers=ana.headers)
    assert r.status_code == 200
    assert r.json()["role"] == "owner"

    r = await client.get(url, headers=bea.headers)
    assert {m["user_id"]: m["role"] for m in r.json()} == {
        str(ana.id): "owner",
        str(bea.id): "editor",
        str(carl.id): "owner",
    }
    assert_error(await client.post(url, json={"email": "nobody@example.com"}, headers=ana.headers), 404)


async def test_the_last_owner_stays(client: httpx.AsyncClient, factory: Factory) -> None:
    ana, bea = await factory.user(), await factory.user()
    project = await make_project(client, ana)
    await factory.member(project["id"], bea, MemberRole.EDITOR)
    url = f"{API}/projects/{project['id']}/members"

    assert_error(await client.delete(f"{url}/{ana.id}", headers=ana.headers), 409, "last_owner")
    r = await client.post(url, json={"user_id": str(ana.id), "role": "editor"}, headers=ana.headers)
    assert_error(r, 409, "last_owner")

    r = await client.post(url, json={"user_id": str(bea.id), "role": "owner"}, headers=ana.headers)
    assert r.status_code == 200
    r = await client.post(url, json={"user_id": str(ana.id), "role": "viewer"}, headers=ana.headers)
    assert r.status_code == 200
    assert r.json()["role"] == "viewer"


async def test_removed_member_loses_the_project_at_once(client: httpx.AsyncClient, factory: Factory) -> None:
    ana, bea = await factory.user(), await factory.user()
    project = await make_project(client, ana)
    document = await make_document(client, ana, project["id"])
    await factory.member(project["id"], bea, MemberRole.EDITOR)
    assert (await client.get(f"{API}/projects/{project['id']}", headers=bea.headers)).status_code == 200

    r = await client.delete(f"{API}/projects/{project['id']}/members/{bea.id}", headers=ana.headers)
    assert r.status_code == 204

    assert_error(await client.get(f"{API}/projects/{project['id']}", headers=bea.headers), 404)
    assert_error(await client.get(f"{API}/projects/documents/{document['id']}", headers=bea.headers), 404)
    r = await client.get(f"{API}/projects", headers=bea.headers)
    assert r.json()["total"] == 0


async def test_a_member_may_leave(client: httpx.AsyncClient, factory: Factory) -> None:
    ana, bea = await factory.user(), await factory.user()
    project = await make_project(client, ana)
    await factory.member(project["id"], bea, MemberRole.VIEWER)
    r = await client.delete(f"{API}/projects/{project['id']}/members/{bea.id}", headers=bea.headers)
    assert r.status_code == 204
    assert_error(await client.get(f"{API}/projects/{project['id']}", headers=bea.headers), 404)


# ---------------------------------------------------------------- users


def assert_no_secrets(response: httpx.Response, password_hash: str | None) -> None:
    assert "password" not in response.text
    if password_hash:
        assert password_hash not in response.text


async def stored_hash(resources: Resources, email: str) -> str | None:
    async with resources.sessionmaker() as session:
        return await session.scalar(sa.select(User.password_hash).where(User.email == email))


async def test_admin_manages_users(client: httpx.AsyncClient, factory: Factory, resources: Resources) -> None:
    # The password's spaces are part of it: logging in with them must work.
    admin = await factory.user(is_admin=True)
    r = await client.post(
        f"{API}/users",
        json={"email": "Dana@Example.com", "password": " correct horse ", "full_name": "Dana"},
        headers=admin.headers,
    )
    assert r.status_code == 201, r.text
    dana = r.json()
    assert dana["email"] == "dana@example.com"
    assert dana["is_admin"] is False
    password_hash = await stored_hash(resources, "dana@example.com")
    assert password_hash
    responses = [r]

    r = await client.get(f"{API}/users?q=dana", headers=admin.headers)
    assert r.status_code == 200
    assert [u["id"] for u in r.json()["items"]] == [dana["id"]]
    responses.append(r)
    r = await client.get(f"{API}/users?limit=1&sort=email", headers=admin.headers)
    assert r.json()["total"] == 2
    assert len(r.json()["items"]) == 1
    responses.append(r)
    r = await client.put(f"{API}/users/{dana['id']}", json={"is_admin": True}, headers=admin.headers)
    assert r.status_code == 200
    assert r.json()["is_admin"] is True
    responses.append(r)

    r = await client.post(
        f"{API}/auth/login", json={"email": "dana@example.com", "password": " correct horse "}
    )
    assert r.status_code == 200, r.text
    dana_headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
    responses.append(await client.get(f"{API}/auth/me", headers=dana_headers))
    responses.append(await client.get(f"{API}/users/{dana['id']}", headers=dana_headers))
    for response in responses:
        assert_no_secrets(response, password_hash)

    r = await client.delete(f"{API}/users/{dana['id']}", headers=admin.headers)
    assert r.status_code == 204
    assert_error(await client.get(f"{API}/users/{dana['id']}", headers=admin.headers), 404)


async def test_users_read_and_update_themselves(client: httpx.AsyncClient, factory: Factory) -> None:
    eve, frank = await factory.user(full_name="Eve"), await factory.user()
    me = f"{API}/users/{eve.id}"

    r = await client.get(me, headers=eve.headers)
    assert r.status_code == 200
    assert r.json()["full_name"] == "Eve"
    r = await client.put(
        me,
        json={"full_name": "Eve Ruiz", "avatar_url": "https://cdn.example.com/eve.png"},
        headers=eve.headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["full_name"] == "Eve Ruiz"
    assert r.json()["avatar_url"] == "https://cdn.example.com/eve.png"
    r = await client.put(me, json={"avatar_url": None}, headers=eve.headers)
    assert r.status_code == 200
    assert r.json()["avatar_url"] is None
    r = await client.get(f"{API}/users/{eve.id}/stats", headers=eve.headers)
    assert r.status_code == 200
    assert r.json()["projects"] == 0

    assert_error(await client.get(f"{API}/users", headers=eve.headers), 403)
    assert_error(await client.post(f"{API}/users", json={"email": "x@example.com"}, headers=eve.headers), 403)
    assert_error(await client.get(f"{API}/users/{frank.id}", headers=eve.headers), 404)
    assert_error(
        await client.put(f"{API}/users/{frank.id}", json={"full_name": "X"}, headers=eve.headers), 404
    )


async def test_mass_assignment_of_is_admin_is_refused(
    client: httpx.AsyncClient, factory: Factory, resources: Resources
) -> None:
    eve = await factory.user()
    for field in ("is_admin", "is_active"):
        r = await client.put(f"{API}/users/{eve.id}", json={field: True}, headers=eve.headers)
        assert_error(r, 403)
    async with resources.sessionmaker() as session:
        stored = await session.get(User, eve.id)
    assert stored is not None
    assert stored.is_admin is False
    r = await client.post(
        f"{API}/projects", json={"title": "P", "owner_id": str(eve.id)}, headers=eve.headers
    )
    assert_error(r, 422)


async def test_register_response_has_no_password(client: httpx.AsyncClient, resources: Resources) -> None:
    r = await client.post(
        f"{API}/auth/register",
        json={"email": "gil@example.com", "password": "correct horse", "full_name": "G"},
    )
    assert r.status_code == 201
    assert_no_secrets(r, await stored_hash(resources, "gil@example.com"))


# ---------------------------------------------------------------- outbox


async def test_every_artifact_write_leaves_exactly_one_outbox_row(
    client: httpx.AsyncClient, factory: Factory, resources: Resources
) -> None:
    ana = await factory.user()
    written: list[tuple[SourceType, OutboxAction]] = []

    async def expect_one(response: httpx.Response, source: SourceType, action: OutboxAction) -> None:
        assert response.status_code < 300, response.text
        before = len(written)
        rows = await outbox_rows(resources)
        assert len(rows) == before + 1, [(row.source_type, row.action) for row in rows]
        assert (rows[-1].source_type, rows[-1].action) == (source, action)
        written.append((source, action))

    project_id: str
    r = await client.post(f"{API}/projects", json={"title": "P"}, headers=ana.headers)
    project_id = r.json()["id"]
    await expect_one(r, SourceType.PROJECT, OutboxAction.UPSERT)
    for change in ({"title": "P2"}, {"progress": 50}, {"budget": 10}):
        r = await client.put(f"{API}/projects/{project_id}", json=change, headers=ana.headers)
        await expect_one(r, SourceType.PROJECT, OutboxAction.UPSERT)

    r = await client.post(
        f"{API}/projects/{project_id}/documents", json={"title": "D", "content": "c"}, headers=ana.headers
    )
    document_url = f"{API}/projects/documents/{r.json()['id']}"
    await expect_one(r, SourceType.DOCUMENT, OutboxAction.UPSERT)
    r = await client.post(
        f"{API}/projects/{project_id}/documents/upload",
        files={"file": ("a.md", b"# A", "text/markdown")},
        headers=ana.headers,
    )
    await expect_one(r, SourceType.DOCUMENT, OutboxAction.UPSERT)
    r = await client.put(document_url, json={"title": "D2", "content": "c2"}, headers=ana.headers)
    await expect_one(r, SourceType.DOCUMENT, OutboxAction.UPSERT)
    await expect_one(
        await client.delete(document_url, headers=ana.headers), SourceType.DOCUMENT, OutboxAction.DELETE
    )

    r = await client.post(
        f"{API}/meetings", json={"project_id": project_id, "title": "M"}, headers=ana.headers
    )
    meeting_url = f"{API}/meetings/{r.json()['id']}"
    await expect_one(r, SourceType.MEETING, OutboxAction.UPSERT)
    for change in ({"title": "M2"}, {"status": "in-progress"}, {"end_time": "2030-01-01T10:00:00Z"}):
        r = await client.put(meeting_url, json=change, headers=ana.headers)
        await expect_one(r, SourceType.MEETING, OutboxAction.UPSERT)
    await expect_one(
        await client.delete(meeting_url, headers=ana.headers), SourceType.MEETING, OutboxAction.DELETE
    )

    r = await client.delete(f"{API}/projects/{project_id}", headers=ana.headers)
    await expect_one(r, SourceType.PROJECT, OutboxAction.DELETE)
    assert {str(row.project_id) for row in await outbox_rows(resources)} == {project_id}
