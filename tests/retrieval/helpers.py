"""Shared pieces of the retrieval tests: projects with documents and meetings written through the real
stack, an OpenAI-compatible chat endpoint mocked with httpx.MockTransport (streaming), SSE parsing and
bounded polling."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx

from api.app import create_app
from api.resources import Resources
from core.models import ChatMessage, Meeting, SourceType, Transcription
from core.outbox import record_change
from core.providers.llm import create_chat_model
from core.settings import Settings

MOCK_MODEL = "gpt-mock"


def parse_sse(text: str) -> list[tuple[str, str, dict[str, Any]]]:
    """(id, event, data) of every event of a text/event-stream body (pings and comments left out)."""
    events = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.split("\n"):
            if ":" in line and not line.startswith(":"):
                key, _, value = line.partition(":")
                fields[key] = value.lstrip(" ")
        if "event" in fields:
            events.append((fields.get("id", ""), fields["event"], json.loads(fields.get("data", "{}"))))
    return events


def answer_text(events: list[tuple[str, str, dict[str, Any]]]) -> str:
    return "".join(data["text"] for _, name, data in events if name == "delta")


async def create_project(client: httpx.AsyncClient, headers: dict[str, str], title: str) -> str:
    r = await client.post("/api/v1/projects", json={"title": title}, headers=headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def add_document(
    client: httpx.AsyncClient, headers: dict[str, str], project_id: str, title: str, content: str
) -> str:
    r = await client.post(
        f"/api/v1/projects/{project_id}/documents", json={"title": title, "content": content}, headers=headers
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def add_transcript(
    resources: Resources,
    project_id: str | uuid.UUID,
    *,
    title: str,
    segments: list[dict[str, Any]],
    **fields: Any,
) -> tuple[uuid.UUID, uuid.UUID]:
    """A meeting with a completed transcription, recorded in the outbox as the pipeline does;
    returns (meeting id, transcription id). drain() indexes it."""
    async with resources.sessionmaker() as session:
        meeting = Meeting(
            project_id=uuid.UUID(str(project_id)),
            title=title,
            room_id=f"room-{uuid.uuid4()}",
            start_time=datetime.now(UTC),
        )
        session.add(meeting)
        await session.flush()
        transcription = Transcription(
            meeting_id=meeting.id, processing_status="completed", segments=segments, **fields
        )
        session.add(transcription)
        await session.flush()
        await record_change(
            session,
            project_id=meeting.project_id,
            source_type=SourceType.TRANSCRIPT,
            source_id=transcription.id,
        )
        await session.commit()
        return meeting.id, transcription.id


async def wait_until(
    condition: Callable[[], Awaitable[Any]], *, what: str, within: float = 10.0, interval: float = 0.02
) -> Any:
    """Poll `await condition()` until it is truthy (and return it), failing after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = await condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(interval)


async def stored_message(resources: Resources, message_id: str | uuid.UUID) -> ChatMessage | None:
    async with resources.sessionmaker() as session:
        return await session.get(ChatMessage, uuid.UUID(str(message_id)))


async def settled_message(resources: Resources, message_id: str | uuid.UUID) -> ChatMessage:
    """The stored turn once it stopped streaming (the turn runs as a background task)."""

    async def settled() -> ChatMessage | None:
        row = await stored_message(resources, message_id)
        return row if row is not None and row.processing_status != "streaming" else None

    row: ChatMessage = await wait_until(settled, what=f"message {message_id} to settle")
    return row


# --- an OpenAI-compatible /chat/completions endpoint ---------------------------------------------------


def sse_chunk(payload: dict[str, Any] | str) -> bytes:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {body}\n\n".encode()


def delta_chunk(text: str) -> bytes:
    return sse_chunk(
        {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": text}}]}
    )


def usage_chunk(prompt_tokens: int, completion_tokens: int) -> bytes:
    return sse_chunk(
        {
            "object": "chat.completion.chunk",
            "choices": [],
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens},
        }
    )


DONE = b"data: [DONE]\n\n"


def streamed(parts: list[bytes], *, gate: Callable[[int], Awaitable[None]] | None = None) -> httpx.Response:
    """A 200 text/event-stream response whose body arrives part by part (`gate(i)` is awaited before
    part i, to slow the stream down or hold it)."""

    async def body() -> AsyncIterator[bytes]:
        for index, part in enumerate(parts):
            if gate is not None:
                await gate(index)
            yield part

    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())


def completion(text_parts: list[str], *, usage: tuple[int, int] | None = None) -> httpx.Response:
    parts = [delta_chunk(text) for text in text_parts]
    if usage is not None:
        parts.append(usage_chunk(*usage))
    return streamed([*parts, DONE])


@dataclasses.dataclass
class MockLLM:
    """Records every /chat/completions request; `respond(body, attempt)` builds the response."""

    respond: Callable[[dict[str, Any], int], httpx.Response | Awaitable[httpx.Response]]
    requests: list[dict[str, Any]] = dataclasses.field(default_factory=list)

    async def handler(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/chat/completions"), request.url
        body = json.loads(request.content)
        self.requests.append(body)
        response = self.respond(body, len(self.requests))
        if isinstance(response, httpx.Response):
            return response
        return await response

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)


def is_condense(body: dict[str, Any]) -> bool:
    return "pregunta autónoma" in body["messages"][0]["content"]


def openai_settings(settings: Settings, **retrieval: Any) -> Settings:
    """The test settings with an OpenAI-compatible endpoint configured (and retrieval overrides)."""
    return settings.model_copy(
        update={
            "openai": settings.openai.model_copy(
                update={"base_url": "http://llm.test/v1", "chat_model": MOCK_MODEL, "max_retries": 2}
            ),
            "retrieval": settings.retrieval.model_copy(update=retrieval),
        }
    )


def resources_with_llm(resources: Resources, settings: Settings, llm: MockLLM, **retrieval: Any) -> Resources:
    """The test resources (same engine and Redis) with the chat model talking to `llm`."""
    configured = openai_settings(settings, **retrieval)
    chat_model = create_chat_model(configured, http=httpx.AsyncClient(transport=llm.transport()))
    return dataclasses.replace(resources, settings=configured).with_chat_model(chat_model)


@dataclasses.dataclass
class MockApp:
    resources: Resources
    client: httpx.AsyncClient
    llm: MockLLM


async def open_mock_app(resources: Resources, settings: Settings, llm: MockLLM, **retrieval: Any) -> MockApp:
    res = resources_with_llm(resources, settings, llm, **retrieval)
    app = create_app(res.settings, resources=res)
    client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")
    return MockApp(res, client, llm)


async def close_mock_app(mock: MockApp) -> None:
    """Stop whatever turn is still running (so no task outlives its test), then close the clients."""
    for task in list(mock.resources.tasks):
        task.cancel()
    await asyncio.gather(*mock.resources.tasks, return_exceptions=True)
    await mock.client.aclose()
    await mock.resources.chat_model.client.close()  # type: ignore[union-attr]
