"""Chat over SSE with the OpenAI-compatible provider behind httpx.MockTransport: streamed deltas,
citations, the done event, the stored and ingested turn, condensed follow-ups, provider failures, stop,
a reader that goes away, Last-Event-ID resumption and the EventSource token flow."""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
import sqlalchemy as sa

from api.services import chat as chat_service
from api.streams import Stream
from core.models import Outbox, SourceType
from core.security import create_access_token
from tests.conftest import TEST_SECRET
from tests.ingestion.helpers import chunk_rows, drain
from tests.retrieval.helpers import (
    MOCK_MODEL,
    MockLLM,
    answer_text,
    close_mock_app,
    completion,
    delta_chunk,
    is_condense,
    open_mock_app,
    parse_sse,
    settled_message,
    stored_message,
    streamed,
    wait_until,
)
from tests.retrieval.test_search_ask import _project_with_docs

QUESTION = "¿Quién enviará la factura?"
STANDALONE = "¿Qué día enviará Ana la factura del presupuesto?"
SOURCE = re.compile(r'<source n="(\d+)"[^>]*>\n(.*?)\n</source>', re.DOTALL)


def cite(body: dict, word: str) -> int:
    """The number the prompt gave to the passage containing `word` (what a model would cite)."""
    for n, text in SOURCE.findall(body["messages"][1]["content"]):
        if word in text:
            return int(n)
    raise AssertionError(f"no passage with {word!r} in the prompt")


def answering(body: dict, attempt: int) -> httpx.Response:
    """Condense requests get the standalone question; answers cite the invoice passage, and an unknown [9]."""
    if is_condense(body):
        return completion([STANDALONE], usage=(50, 12))
    n = cite(body, "factura")
    return completion(
        ["Ana ", "enviará la factura ", "el viernes [", f"{n}]", " y [9] nada más."], usage=(321, 12)
    )


@pytest.fixture
async def project(client, factory, settings, resources):
    owner = await factory.user()
    project_id = await _project_with_docs(client, owner)
    await drain(settings, resources)
    return owner, project_id


@pytest.fixture
async def open_app(resources, settings):
    """Opens apps whose chat model talks to a MockLLM; every turn they started is over after the test."""
    opened = []

    async def _open(respond, **retrieval):
        mock = await open_mock_app(resources, settings, MockLLM(respond), **retrieval)
        opened.append(mock)
        return mock

    yield _open
    for mock in opened:
        await close_mock_app(mock)


async def _chat_outbox(resources, message_id: str) -> list[Outbox]:
    async with resources.sessionmaker() as session:
        query = sa.select(Outbox).where(
            Outbox.source_type == SourceType.CHAT, Outbox.source_id == uuid.UUID(message_id)
        )
        return list((await session.scalars(query)).all())


async def test_a_streamed_answer_with_citations_is_stored_and_ingested(
    project, open_app, settings, resources
):
    owner, project_id = project
    mock = await open_app(answering)

    r = await mock.client.post(
        f"/api/v1/ai/chat/{project_id}", json={"message": QUESTION}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(r.text)
    names = [name for _, name, _ in events]
    assert names[0] == "start" and names[-2:] == ["citations", "done"], names
    assert [int(event_id) for event_id, _, _ in events] == list(range(1, len(events) + 1))

    (request,) = mock.llm.requests
    n = cite(request, "factura")
    assert request["model"] == MOCK_MODEL and request["stream"] is True
    assert "«Web Acme»" in request["messages"][0]["content"]
    assert request["messages"][1]["content"].endswith(f"Mensaje: {QUESTION}")

    # The deltas, in order, as the model sent them, with the marker that cites nothing removed.
    deltas = [data["text"] for _, name, data in events if name == "delta"]
    assert deltas == ["Ana ", "enviará la factura ", "el viernes ", f"[{n}]", " y  nada más."]
    start = events[0][2]
    message_id = start["message_id"]
    assert start["standalone_question"] == QUESTION
    assert any(source["n"] == n and source["title"] == "Presupuesto" for source in start["sources"])

    (citations,) = [data["citations"] for _, name, data in events if name == "citations"]
    assert [c["n"] for c in citations] == [n]
    assert citations[0]["title"] == "Presupuesto" and citations[0]["source_type"] == "document"
    r = await mock.client.get(f"/api/v1/ai/chunks/{citations[0]['chunk_id']}", headers=owner.headers)
    assert r.status_code == 200 and "Ana enviará la factura" in r.json()["content"]

    done = events[-1][2]
    chat_prompt = resources.prompts.get("chat")
    assert done["message_id"] == message_id and done["status"] == "completed"
    assert done["usage"] == {"prompt_tokens": 321, "completion_tokens": 12}
    assert {"retrieval_ms", "first_token_ms", "total_ms"} <= done["timings"].keys()
    assert (done["provider"], done["model"]) == ("openai-compatible", MOCK_MODEL)
    assert (done["prompt_name"], done["prompt_version"]) == ("chat", chat_prompt.version)

    r = await mock.client.get(f"/api/v1/ai/chat/{project_id}", headers=owner.headers)
    (item,) = r.json()["items"]
    assert item["id"] == message_id and item["processing_status"] == "completed" and item["error"] is None
    assert item["ai_response"] == answer_text(events).strip()
    assert (item["provider"], item["model"]) == ("openai-compatible", MOCK_MODEL)
    assert (item["prompt_name"], item["prompt_version"]) == ("chat", chat_prompt.version)
    assert item["context_used"] == citations
    (final,) = [data["text"] for _, name, data in events if name == "citations"]
    assert final == item["ai_response"]
    assert (await settled_message(resources, message_id)).usage == done["usage"]

    assert len(await _chat_outbox(resources, message_id)) == 1
    await drain(settings, resources)
    chunks = await chunk_rows(resources, source_type=SourceType.CHAT)
    assert chunks and {str(chunk.source_id) for chunk in chunks} == {message_id}
    assert QUESTION in chunks[0].content and "Ana enviará la factura el viernes" in chunks[0].content


async def test_a_follow_up_is_condensed_with_the_history_before_retrieval(project, open_app, client):
    owner, project_id = project
    mock = await open_app(answering)
    r = await mock.client.post(
        f"/api/v1/ai/chat/{project_id}", json={"message": QUESTION}, headers=owner.headers
    )
    first = parse_sse(r.text)
    conversation_id = first[0][2]["conversation_id"]
    assert not any(is_condense(body) for body in mock.llm.requests)  # nothing to condense on a first turn

    follow_up = "¿Y qué día?"
    # On its own the follow-up retrieves nothing relevant (the offline /ask says it does not know).
    r = await client.get(f"/api/v1/ai/ask/{project_id}", params={"q": follow_up}, headers=owner.headers)
    assert r.json()["grounded"] is False

    r = await mock.client.post(
        f"/api/v1/ai/chat/{project_id}",
        json={"message": follow_up, "conversation_id": conversation_id},
        headers=owner.headers,
    )
    events = parse_sse(r.text)
    assert events[-1][1] == "done", events
    condense, answer = mock.llm.requests[1:]
    assert is_condense(condense) and not is_condense(answer)
    assert condense["temperature"] == 0.0
    history = condense["messages"][1]["content"]
    assert f"Usuario: {QUESTION}" in history and "Asistente: Ana enviará la factura el viernes" in history
    assert history.endswith(f"Último mensaje: {follow_up}")

    start = events[0][2]
    assert start["conversation_id"] == conversation_id
    assert start["standalone_question"] == STANDALONE
    assert any(source["title"] == "Presupuesto" for source in start["sources"])
    prompt = answer["messages"][1]["content"]
    assert f"Usuario: {QUESTION}" in prompt and "factura" in prompt.split("<context>")[1]
    assert prompt.endswith(f"Mensaje: {follow_up}")

    r = await mock.client.get(
        f"/api/v1/ai/chat/{project_id}", params={"conversation_id": conversation_id}, headers=owner.headers
    )
    assert r.json()["total"] == 2


def _timing_out(body: dict, attempt: int) -> httpx.Response:
    raise httpx.ReadTimeout("the model did not answer in time")


def _failing(body: dict, attempt: int) -> httpx.Response:
    return httpx.Response(500, text="internal error")


def _malformed(body: dict, attempt: int) -> httpx.Response:
    return streamed([delta_chunk("Ana "), delta_chunk("enviará "), b'data: {"choices": [{"delta": \n\n'])


@pytest.mark.parametrize(
    ("respond", "attempts", "partial"),
    [(_timing_out, 3, ""), (_failing, 3, ""), (_malformed, 1, "Ana enviará")],
    ids=["timeout", "http-500", "malformed-chunk"],
)
async def test_a_failing_provider_ends_the_stream_with_an_error_event(
    project, open_app, resources, respond, attempts, partial
):
    owner, project_id = project
    mock = await open_app(respond)
    r = await mock.client.post(
        f"/api/v1/ai/chat/{project_id}", json={"message": QUESTION}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    events = parse_sse(r.text)
    names = [name for _, name, _ in events]
    assert names[0] == "start" and names[-1] == "error" and "done" not in names, names
    assert events[-1][2]["code"] == "provider_unavailable" and events[-1][2]["message"]
    assert answer_text(events).strip() == partial
    assert len(mock.llm.requests) == attempts

    row = await settled_message(resources, events[0][2]["message_id"])
    assert row.processing_status == "failed" and row.error
    assert row.ai_response == partial and row.provider == "openai-compatible"
    assert await _chat_outbox(resources, str(row.id)) == []  # a failed turn is not indexed

    r = await mock.client.get(f"/api/v1/ai/ask/{project_id}", params={"q": QUESTION}, headers=owner.headers)
    assert r.status_code == 503 and r.json()["error"]["code"] == "provider_unavailable"


def _slow(body: dict, attempt: int) -> httpx.Response:
    """An answer that keeps coming, a word every few milliseconds (for at most ~20 seconds)."""

    async def pace(index: int) -> None:
        if index >= 3:
            await asyncio.sleep(0.01)

    return streamed([delta_chunk(f"palabra{i} ") for i in range(2000)], gate=pace)


async def _stream_length(mock, message_id: str) -> int:
    return int(await mock.resources.redis.xlen(f"v1tr0:chat:stream:{message_id}"))


async def test_stop_ends_the_stream_and_keeps_the_partial_answer(project, open_app, resources):
    owner, project_id = project
    mock = await open_app(_slow)
    r = await mock.client.post(
        f"/api/v1/ai/chat/{project_id}/streams", json={"message": QUESTION}, headers=owner.headers
    )
    ticket = r.json()
    message_id = ticket["message_id"]
    reader = asyncio.create_task(mock.client.get(ticket["stream_url"]))

    async def streaming() -> bool:
        return await _stream_length(mock, message_id) >= 6

    await wait_until(streaming, what="the answer to start streaming")
    r = await mock.client.post(
        f"/api/v1/ai/chat/{project_id}/messages/{message_id}/stop", headers=owner.headers
    )
    assert r.status_code == 202 and r.json() == {"status": "stopping"}
    response = await asyncio.wait_for(reader, 20)

    events = parse_sse(response.text)
    assert events[-1][1] == "error" and events[-1][2]["code"] == "stopped", events[-3:]
    partial = answer_text(events)
    assert partial.startswith("palabra0 palabra1 palabra2 ") and "palabra1999" not in partial
    row = await settled_message(resources, message_id)
    assert row.processing_status == "stopped" and row.ai_response == partial.strip()
    assert await _chat_outbox(resources, message_id) == []


async def test_a_turn_whose_reader_goes_away_is_stored_as_interrupted(project, open_app, resources):
    owner, project_id = project
    mock = await open_app(_slow, chat_detach_grace=0)
    r = await mock.client.post(
        f"/api/v1/ai/chat/{project_id}/streams", json={"message": QUESTION}, headers=owner.headers
    )
    message_id = uuid.UUID(r.json()["message_id"])

    await chat_service.ensure_started(mock.resources, message_id)
    events = chat_service.relay(mock.resources, message_id)
    seen = []
    async for event in events:
        seen.append(event)
        if event["event"] == "delta":
            break
    await events.aclose()  # the client went away

    row = await settled_message(resources, message_id)
    assert row.processing_status == "interrupted", row.processing_status
    assert row.ai_response.startswith("palabra0") and "palabra1999" not in row.ai_response
    assert [event["event"] for event in seen] == ["start", "delta"]


async def test_last_event_id_resumes_after_that_event(project, open_app):
    owner, project_id = project
    mock = await open_app(answering)
    r = await mock.client.post(
        f"/api/v1/ai/chat/{project_id}", json={"message": QUESTION}, headers=owner.headers
    )
    events = parse_sse(r.text)
    message_id = events[0][2]["message_id"]
    url = f"/api/v1/ai/chat/{project_id}/stream/{message_id}"
    for last in range(len(events)):
        r = await mock.client.get(url, headers={**owner.headers, "Last-Event-ID": str(last)})
        assert r.status_code == 200
        assert parse_sse(r.text) == events[last:], last
    # After the final event there is nothing left: 204 tells EventSource not to reconnect.
    r = await mock.client.get(url, headers={**owner.headers, "Last-Event-ID": str(len(events))})
    assert r.status_code == 204 and r.content == b""
    assert len(mock.llm.requests) == 1  # resuming never regenerates


async def test_event_source_flow_with_a_stream_token(project, client):
    owner, project_id = project
    r = await client.post(
        f"/api/v1/ai/chat/{project_id}/streams", json={"message": QUESTION}, headers=owner.headers
    )
    assert r.status_code == 201, r.text
    ticket = r.json()
    message_id = ticket["message_id"]
    assert ticket["stream_url"].startswith(f"/api/v1/ai/chat/{project_id}/stream/{message_id}?token=")
    assert 0 < ticket["expires_in"] <= 300 and uuid.UUID(ticket["conversation_id"])

    r = await client.get(ticket["stream_url"])  # no Authorization header, as EventSource sends it
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(r.text)
    assert events[0][1] == "start" and events[-1][1] == "done"
    assert "Ana" in answer_text(events)

    url = f"/api/v1/ai/chat/{project_id}/stream/{message_id}"
    now = datetime.now(UTC)
    claims = {"aud": Stream.CHAT.value, "typ": "stream", "msg": message_id}
    expired = create_access_token(user_id=owner.id, secret=TEST_SECRET, ttl_seconds=-10, extra=claims)
    forged = jwt.encode(
        {"iss": "v1tr0", "sub": str(owner.id), "exp": now + timedelta(minutes=1), **claims},
        "not-the-server-secret-but-long-enough-for-hs256",
        algorithm="HS256",
    )
    access = owner.headers["Authorization"].removeprefix("Bearer ")
    for token in (expired, forged, access, "garbage"):
        r = await client.get(url, params={"token": token})
        assert r.status_code == 401, (token, r.text)
        assert r.json()["error"]["code"] == "unauthorized" and r.json()["error"]["message"]
    r = await client.get(url)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


async def test_an_expired_buffer_replays_the_stored_answer_without_regenerating(project, open_app, resources):
    owner, project_id = project
    mock = await open_app(answering)
    r = await mock.client.post(
        f"/api/v1/ai/chat/{project_id}", json={"message": QUESTION}, headers=owner.headers
    )
    events = parse_sse(r.text)
    message_id = events[0][2]["message_id"]
    stored = await settled_message(resources, message_id)
    # An hour later the Redis buffer and the "started" mark are gone.
    await resources.redis.delete(f"v1tr0:chat:stream:{message_id}", f"v1tr0:chat:started:{message_id}")

    r = await mock.client.get(f"/api/v1/ai/chat/{project_id}/stream/{message_id}", headers=owner.headers)
    replayed = parse_sse(r.text)
    assert [name for _, name, _ in replayed] == ["start", "delta", "done"]
    assert replayed[1][2]["text"] == stored.ai_response and replayed[2][2]["replayed"] is True
    assert len(mock.llm.requests) == 1
    assert (await settled_message(resources, message_id)).ai_response == stored.ai_response


@pytest.mark.parametrize(("respond", "status"), [(answering, "completed"), (_failing, "failed")])
async def test_the_turn_is_stored_before_its_final_event(project, open_app, resources, respond, status):
    """A client that reads the history (or sends a follow-up) as soon as it sees `done` finds the turn."""
    owner, project_id = project
    mock = await open_app(respond)
    r = await mock.client.post(
        f"/api/v1/ai/chat/{project_id}/streams", json={"message": QUESTION}, headers=owner.headers
    )
    message_id = uuid.UUID(r.json()["message_id"])
    await chat_service.ensure_started(mock.resources, message_id)
    async for event in chat_service.relay(mock.resources, message_id):
        if event["event"] in ("done", "error"):
            row = await stored_message(resources, message_id)
            assert row is not None and row.processing_status == status
    assert event["event"] == ("done" if status == "completed" else "error")


async def test_an_answer_the_model_left_uncited_is_cited_to_the_passage_that_holds_it(project, open_app):
    """Small local models mostly answer without markers: the final text (the citations event's and the
    stored one) cites each sentence to the passage holding its words; a sentence no passage holds stays
    uncited."""
    owner, project_id = project

    def uncited(body: dict, attempt: int) -> httpx.Response:
        if is_condense(body):
            return completion([STANDALONE])
        return completion(["Ana enviará la factura ", "del presupuesto el viernes. ", "Hará sol mañana."])

    mock = await open_app(uncited)
    r = await mock.client.post(
        f"/api/v1/ai/chat/{project_id}", json={"message": QUESTION}, headers=owner.headers
    )
    assert r.status_code == 200, r.text
    events = parse_sse(r.text)
    n = cite(mock.llm.requests[-1], "factura")
    assert answer_text(events) == "Ana enviará la factura del presupuesto el viernes. Hará sol mañana."
    ((citations, final),) = [(d["citations"], d["text"]) for _, name, d in events if name == "citations"]
    assert final == f"Ana enviará la factura del presupuesto el viernes [{n}]. Hará sol mañana."
    assert [c["n"] for c in citations] == [n] and citations[0]["title"] == "Presupuesto"
    r = await mock.client.get(f"/api/v1/ai/chat/{project_id}", headers=owner.headers)
    (item,) = r.json()["items"]
    assert item["ai_response"] == final and item["context_used"] == citations
