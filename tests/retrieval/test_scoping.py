"""Scoping of every AI route: nothing of a project the caller is not a member of is returned, cited or
streamed, whatever the route, filter, conversation, message, stream token or chunk id; another project's
ids are 404 (as if they did not exist), and membership changes count from the next request.

Alice is in project A, Bob in project B, Carol in both, and an admin sees everything. Each project's
artifacts use words no other project has, so a leak shows up as one of those words (or ids) in a response.
"""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from core.models import Chunk, MemberRole
from tests.conftest import Actor
from tests.ingestion.helpers import drain
from tests.retrieval.helpers import add_document, add_transcript, create_project, parse_sse

A_TEXT = {
    "Informe Alfaro": (
        "El zorzal azul del cliente Alfaro canta en la terraza. El presupuesto de Alfaro es de 4.000 euros."
    ),
    "Calendario Alfaro": "La entrega del portal de Alfaro será el lunes y el zorzal revisará la portada.",
}
B_TEXT = {
    "Informe Bernabéu": (
        "La mantarraya violeta del cliente Bernabéu nada junto al muelle. "
        "El presupuesto de Bernabéu es de 9.000 euros."
    ),
    "Calendario Bernabéu": (
        "La entrega de la tienda de Bernabéu será el jueves y la mantarraya revisará el catálogo."
    ),
}
A_WORDS = ("zorzal", "Alfaro")
B_WORDS = ("mantarraya", "Bernabéu", "Bruno")
B_QUERY = "¿Qué hace la mantarraya violeta de Bernabéu?"
A_QUERY = "¿Qué hace el zorzal azul de Alfaro?"


@dataclass
class Side:
    """One project and everything of it a leak could show."""

    project_id: str
    words: tuple[str, ...]
    meeting_id: str = ""
    document_ids: list[str] = field(default_factory=list)
    chunk_ids: set[int] = field(default_factory=set)
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # owner name -> start event data

    @property
    def ids(self) -> list[str]:
        return [
            self.project_id,
            self.meeting_id,
            *self.document_ids,
            *(m["message_id"] for m in self.messages.values()),
        ]


@dataclass
class World:
    alice: Actor
    bob: Actor
    carol: Actor
    admin: Actor
    a: Side
    b: Side


async def _side(
    client, resources, owner: Actor, title: str, texts: dict[str, str], words, speaker: str
) -> Side:
    side = Side(await create_project(client, owner.headers, title), words)
    for doc_title, content in texts.items():
        side.document_ids.append(
            await add_document(client, owner.headers, side.project_id, doc_title, content)
        )
    first = next(iter(texts.values()))
    meeting_id, _ = await add_transcript(
        resources,
        side.project_id,
        title=f"Reunión {words[1]}",
        segments=[
            {"start": 0.0, "end": 4.0, "speaker": speaker, "text": first},
            {"start": 4.0, "end": 9.0, "speaker": speaker, "text": f"Hay riesgo de retraso con {words[1]}."},
        ],
        commitments=[{"owner": speaker, "task": f"enviar el presupuesto a {words[1]}", "due": "2026-12-04"}],
        decisions=[f"Se aprueba el {words[0]}"],
    )
    side.meeting_id = str(meeting_id)
    return side


async def _chat(
    client, actor: Actor, project_id: str, message: str, conversation_id: str | None = None
) -> dict:
    body: dict[str, Any] = {"message": message}
    if conversation_id:
        body["conversation_id"] = conversation_id
    r = await client.post(f"/api/v1/ai/chat/{project_id}", json=body, headers=actor.headers)
    assert r.status_code == 200, r.text
    events = parse_sse(r.text)
    assert events[-1][1] == "done", events
    start: dict = events[0][2]
    return start


@pytest.fixture
async def world(client, factory, settings, resources) -> World:
    alice, bob, carol = await factory.user(), await factory.user(), await factory.user()
    admin = await factory.user(is_admin=True)
    a = await _side(client, resources, alice, "Portal Alfaro", A_TEXT, A_WORDS, "Ana")
    b = await _side(client, resources, bob, "Tienda Bernabéu", B_TEXT, B_WORDS, "Bruno")
    await factory.member(uuid.UUID(a.project_id), carol, MemberRole.EDITOR)
    await factory.member(uuid.UUID(b.project_id), carol, MemberRole.EDITOR)
    await drain(settings, resources)
    a.messages["alice"] = await _chat(client, alice, a.project_id, A_QUERY)
    a.messages["carol"] = await _chat(
        client, carol, a.project_id, "¿Cuándo es la entrega del portal de Alfaro?"
    )
    b.messages["bob"] = await _chat(client, bob, b.project_id, B_QUERY)
    b.messages["carol"] = await _chat(
        client, carol, b.project_id, "¿Cuándo es la entrega de la tienda de Bernabéu?"
    )
    await drain(settings, resources)  # the finished turns are indexed too
    async with resources.sessionmaker() as session:
        for side in (a, b):
            query = sa.select(Chunk.id).where(Chunk.project_id == uuid.UUID(side.project_id))
            side.chunk_ids = set((await session.scalars(query)).all())
    assert a.chunk_ids and b.chunk_ids
    return World(alice, bob, carol, admin, a, b)


ECHOES = ("query", "standalone_question")  # the caller's own words, sent back


def _payloads(response: httpx.Response) -> list[Any]:
    content_type = response.headers.get("content-type", "")
    if content_type.startswith("text/event-stream"):
        return [data for _, _, data in parse_sse(response.text)]
    if content_type.startswith("application/json"):
        return [response.json()]
    return [response.text]


def assert_no_leak(response: httpx.Response, other: Side) -> None:
    """Nothing of `other` in the body (decoded, without the echo of the caller's own query): none of its
    words, ids or chunk ids."""
    payloads = _payloads(response)
    for payload in payloads:
        if isinstance(payload, dict):
            for key in ECHOES:
                payload.pop(key, None)
    text = json.dumps(payloads, ensure_ascii=False, default=str).lower()
    for word in (*other.words, *other.ids):
        assert word.lower() not in text, f"{word!r} leaked: {text[:500]}"
    for payload in payloads:
        if not isinstance(payload, dict):
            continue
        for item in [*payload.get("results", []), *payload.get("citations", []), *payload.get("sources", [])]:
            assert item["chunk_id"] not in other.chunk_ids and item["project_id"] != other.project_id


def assert_not_found(response: httpx.Response, like: httpx.Response) -> None:
    """404 in the error shape, exactly as for an id that does not exist (so an id reveals nothing)."""
    assert response.status_code == 404, response.text
    assert response.json() == like.json()
    assert response.json()["error"]["code"] == "not_found"


def _results(response: httpx.Response) -> list[dict]:
    assert response.status_code == 200, response.text
    results: list[dict] = response.json()["results"]
    return results


async def test_searches_never_return_another_projects_chunks(client, world):
    alice, bob, a, b = world.alice, world.bob, world.a, world.b
    modes = ("hybrid", "vector", "text")
    source_types = (None, "document", "transcript", "chat", "commitments")
    meetings = (None, a.meeting_id, b.meeting_id)
    dates = ({}, {"date_from": "2000-01-01T00:00:00Z", "date_to": "2100-01-01T00:00:00Z"})

    def params(q, mode, source_type, meeting_id, date_range) -> dict:
        values = {"q": q, "mode": mode, "limit": 50, **date_range}
        if source_type:
            values["source_type"] = source_type
        if meeting_id:
            values["meeting_id"] = meeting_id
        return values

    found_b = 0
    for mode, source_type, date_range in itertools.product(modes, source_types, dates):
        for meeting_id in meetings:
            r = await client.get(
                f"/api/v1/ai/search/{a.project_id}",
                params=params(B_QUERY, mode, source_type, meeting_id, date_range),
                headers=alice.headers,
            )
            assert {res["project_id"] for res in _results(r)} <= {a.project_id}
            assert_no_leak(r, b)
        for q in (B_QUERY, "presupuesto entrega"):
            r = await client.get(
                "/api/v1/search", params=params(q, mode, source_type, None, date_range), headers=alice.headers
            )
            assert {res["project_id"] for res in _results(r)} <= {a.project_id}
            assert_no_leak(r, b)
        # The same search by Bob does find project B: the check above is not vacuous.
        r = await client.get(
            "/api/v1/search", params=params(B_QUERY, mode, source_type, None, date_range), headers=bob.headers
        )
        results = _results(r)
        assert {res["project_id"] for res in results} <= {b.project_id}
        found_b += len(results)
        assert_no_leak(r, a)
    assert found_b > 0
    r = await client.get("/api/v1/search", params={"q": "mantarraya", "mode": "text"}, headers=bob.headers)
    assert any("<mark>mantarraya</mark>" in res["snippet"].lower() for res in _results(r))
    with pytest.raises(AssertionError, match="leaked"):  # the leak check does see B when it is there
        assert_no_leak(r, b)


async def test_members_of_both_and_admins_see_both(client, world):
    for actor in (world.carol, world.admin):
        r = await client.get(
            "/api/v1/search", params={"q": "presupuesto entrega", "limit": 50}, headers=actor.headers
        )
        assert {res["project_id"] for res in _results(r)} == {world.a.project_id, world.b.project_id}
    r = await client.get(
        f"/api/v1/ai/search/{world.b.project_id}", params={"q": B_QUERY}, headers=world.admin.headers
    )
    assert _results(r)
    chunk_id = min(world.b.chunk_ids)
    r = await client.get(f"/api/v1/ai/chunks/{chunk_id}", headers=world.admin.headers)
    assert r.status_code == 200 and r.json()["project_id"] == world.b.project_id


async def test_another_projects_ids_are_404_on_every_route(client, world):
    alice, a, b = world.alice, world.a, world.b
    h = alice.headers
    bob_message = b.messages["bob"]["message_id"]
    missing_project, missing_message = uuid.uuid4(), uuid.uuid4()

    async def pair(method: str, url: str, missing_url: str, **kwargs) -> None:
        theirs = await client.request(method, url, headers=h, **kwargs)
        absent = await client.request(method, missing_url, headers=h, **kwargs)
        assert_not_found(theirs, absent)
        assert_no_leak(theirs, b)

    pid, mid = b.project_id, bob_message
    routes = [
        ("GET", "/api/v1/ai/search/{p}?q=mantarraya", {}),
        ("GET", "/api/v1/ai/ask/{p}?q=mantarraya", {}),
        ("POST", "/api/v1/ai/chat/{p}", {"json": {"message": B_QUERY}}),
        ("POST", "/api/v1/ai/chat/{p}/streams", {"json": {"message": B_QUERY}}),
        ("GET", "/api/v1/ai/chat/{p}", {}),
        ("GET", "/api/v1/ai/chat/{p}/stream/{m}", {}),
        ("POST", "/api/v1/ai/chat/{p}/messages/{m}/stop", {}),
        ("GET", "/api/v1/ai/insights/{p}", {}),
        ("GET", "/api/v1/ai/suggestions/{p}", {}),
    ]
    for method, template, kwargs in routes:
        await pair(
            method,
            template.format(p=pid, m=mid),
            template.format(p=missing_project, m=missing_message),
            **kwargs,
        )
    # Bob's message through Alice's own project is not found either (a message id is not a capability).
    for method, template, _ in routes:
        if "{m}" in template:
            await pair(
                method,
                template.format(p=a.project_id, m=mid),
                template.format(p=a.project_id, m=missing_message),
            )
    for chunk_id in sorted(b.chunk_ids)[:5]:
        await pair("GET", f"/api/v1/ai/chunks/{chunk_id}", f"/api/v1/ai/chunks/{max(b.chunk_ids) + 1000}")
    for chunk_id in sorted(a.chunk_ids)[:3]:
        r = await client.get(f"/api/v1/ai/chunks/{chunk_id}", headers=h)
        assert r.status_code == 200 and r.json()["project_id"] == a.project_id


async def test_ask_chat_insights_and_suggestions_cite_only_the_callers_project(client, world):
    alice, a, b = world.alice, world.a, world.b
    for question in (B_QUERY, "¿Cuál es el presupuesto del cliente?", "¿Qué riesgos hay?"):
        r = await client.get(f"/api/v1/ai/ask/{a.project_id}", params={"q": question}, headers=alice.headers)
        assert r.status_code == 200
        assert {c["project_id"] for c in r.json()["citations"]} <= {a.project_id}
        assert_no_leak(r, b)
    r = await client.get(f"/api/v1/ai/ask/{a.project_id}", params={"q": A_QUERY}, headers=alice.headers)
    assert r.json()["grounded"] is True and "zorzal" in r.json()["answer"]

    for question in (B_QUERY, "¿Y el presupuesto?"):
        r = await client.post(
            f"/api/v1/ai/chat/{a.project_id}", json={"message": question}, headers=alice.headers
        )
        events = parse_sse(r.text)
        assert events[-1][1] == "done"
        sources = events[0][2]["sources"]
        assert {s["project_id"] for s in sources} <= {a.project_id}
        assert_no_leak(r, b)

    for route in ("insights", "suggestions"):
        r = await client.get(f"/api/v1/ai/{route}/{a.project_id}", headers=alice.headers)
        assert r.status_code == 200, r.text
        assert_no_leak(r, b)
    r = await client.get(f"/api/v1/ai/insights/{a.project_id}", headers=alice.headers)
    assert any("Alfaro" in item["text"] for item in r.json()["commitments"])


async def test_conversations_messages_and_stream_tokens_are_the_owners_only(client, world):
    alice, carol, a, b = world.alice, world.carol, world.a, world.b
    alice_turn, carol_a_turn = a.messages["alice"], a.messages["carol"]
    bob_turn, carol_b_turn = b.messages["bob"], b.messages["carol"]
    missing = await client.post(
        f"/api/v1/ai/chat/{a.project_id}",
        json={"message": "hola", "conversation_id": str(uuid.uuid4())},
        headers=alice.headers,
    )
    assert missing.status_code == 404

    # Someone else's conversation, or one's own from another project, cannot be continued or read.
    for actor, project_id, conversation_id in (
        (alice, a.project_id, bob_turn["conversation_id"]),  # another user, another project
        (alice, a.project_id, carol_a_turn["conversation_id"]),  # another user, same project
        (carol, a.project_id, carol_b_turn["conversation_id"]),  # same user, another project
        (carol, a.project_id, alice_turn["conversation_id"]),
    ):
        for url in (f"/api/v1/ai/chat/{project_id}", f"/api/v1/ai/chat/{project_id}/streams"):
            r = await client.post(
                url, json={"message": "¿y luego?", "conversation_id": conversation_id}, headers=actor.headers
            )
            assert_not_found(r, missing)
        r = await client.get(
            f"/api/v1/ai/chat/{project_id}",
            params={"conversation_id": conversation_id},
            headers=actor.headers,
        )
        assert r.status_code == 404, r.text
        assert_no_leak(r, b)

    # History is the caller's own turns only, even in a shared project.
    r = await client.get(f"/api/v1/ai/chat/{a.project_id}", headers=carol.headers)
    assert [item["id"] for item in r.json()["items"]] == [carol_a_turn["message_id"]]
    r = await client.get(
        f"/api/v1/ai/chat/{a.project_id}",
        params={"conversation_id": carol_a_turn["conversation_id"]},
        headers=carol.headers,
    )
    assert r.status_code == 200 and r.json()["total"] == 1

    # Another member's message in a shared project: not found to follow or stop.
    url = f"/api/v1/ai/chat/{a.project_id}/stream/{alice_turn['message_id']}"
    assert (await client.get(url, headers=carol.headers)).status_code == 404
    r = await client.post(
        f"/api/v1/ai/chat/{a.project_id}/messages/{alice_turn['message_id']}/stop", headers=carol.headers
    )
    assert r.status_code == 404

    # A stream token is good for its own message only.
    r = await client.post(
        f"/api/v1/ai/chat/{a.project_id}/streams", json={"message": A_QUERY}, headers=alice.headers
    )
    ticket = r.json()
    token = ticket["stream_url"].split("token=")[1]
    for project_id, message_id in (
        (a.project_id, alice_turn["message_id"]),  # Alice's other message
        (a.project_id, carol_a_turn["message_id"]),
        (b.project_id, bob_turn["message_id"]),
    ):
        r = await client.get(f"/api/v1/ai/chat/{project_id}/stream/{message_id}", params={"token": token})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized", r.text
        assert_no_leak(r, b)
    r = await client.get(
        f"/api/v1/ai/chat/{b.project_id}/stream/{ticket['message_id']}", params={"token": token}
    )
    assert r.status_code == 404
    r = await client.get(ticket["stream_url"])
    assert r.status_code == 200 and parse_sse(r.text)[-1][1] == "done"
    assert_no_leak(r, b)


async def test_membership_changes_take_effect_on_the_next_request(client, factory, world):
    bob, carol, alice, a, b = world.bob, world.carol, world.alice, world.a, world.b
    carol_turn = b.messages["carol"]
    r = await client.post(
        f"/api/v1/ai/chat/{b.project_id}/streams", json={"message": B_QUERY}, headers=carol.headers
    )
    ticket = r.json()
    # Before: Carol sees B (and its insights get cached).
    r = await client.get("/api/v1/search", params={"q": B_QUERY, "limit": 50}, headers=carol.headers)
    assert b.project_id in {res["project_id"] for res in _results(r)}
    assert (await client.get(f"/api/v1/ai/insights/{b.project_id}", headers=carol.headers)).status_code == 200

    r = await client.delete(f"/api/v1/projects/{b.project_id}/members/{carol.id}", headers=bob.headers)
    assert r.status_code == 204, r.text

    h = carol.headers
    for method, url in (
        ("GET", f"/api/v1/ai/search/{b.project_id}?q=mantarraya"),
        ("GET", f"/api/v1/ai/ask/{b.project_id}?q=mantarraya"),
        ("GET", f"/api/v1/ai/insights/{b.project_id}"),
        ("GET", f"/api/v1/ai/suggestions/{b.project_id}"),
        ("GET", f"/api/v1/ai/chat/{b.project_id}"),
        ("GET", f"/api/v1/ai/chat/{b.project_id}/stream/{carol_turn['message_id']}"),
        ("POST", f"/api/v1/ai/chat/{b.project_id}/messages/{carol_turn['message_id']}/stop"),
        ("GET", f"/api/v1/ai/chunks/{min(b.chunk_ids)}"),
    ):
        r = await client.request(method, url, headers=h)
        assert r.status_code == 404, (url, r.text)
    r = await client.post(f"/api/v1/ai/chat/{b.project_id}", json={"message": B_QUERY}, headers=h)
    assert r.status_code == 404
    r = await client.get(ticket["stream_url"])  # a stream token issued before the removal
    assert r.status_code == 404
    for mode in ("hybrid", "vector", "text"):
        r = await client.get("/api/v1/search", params={"q": B_QUERY, "mode": mode, "limit": 50}, headers=h)
        assert {res["project_id"] for res in _results(r)} <= {a.project_id}
        assert_no_leak(r, b)

    # Adding a member makes the project visible at once.
    dave = await factory.user()
    r = await client.get(f"/api/v1/ai/search/{a.project_id}", params={"q": A_QUERY}, headers=dave.headers)
    assert r.status_code == 404
    r = await client.post(
        f"/api/v1/projects/{a.project_id}/members",
        json={"user_id": str(dave.id), "role": "viewer"},
        headers=alice.headers,
    )
    assert r.status_code == 201, r.text
    r = await client.get(f"/api/v1/ai/search/{a.project_id}", params={"q": A_QUERY}, headers=dave.headers)
    assert any("zorzal" in res["snippet"] for res in _results(r))
    r = await client.get("/api/v1/search", params={"q": A_QUERY, "limit": 50}, headers=dave.headers)
    assert {res["project_id"] for res in _results(r)} == {a.project_id}
    r = await client.get(f"/api/v1/ai/ask/{a.project_id}", params={"q": A_QUERY}, headers=dave.headers)
    assert r.json()["grounded"] is True
