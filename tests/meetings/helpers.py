"""Shared pieces of the meeting tests: meetings made through the API, audio made on the spot (espeak-ng
speech, numpy tones), an OpenAI-compatible chat endpoint on `httpx.MockTransport`, and a burst worker
whose meeting models can be replaced."""

from __future__ import annotations

import asyncio
import json
import shutil
import uuid
import wave
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import sqlalchemy as sa

from api.resources import Resources
from core.models import Commitment, Transcription
from core.providers.llm import ChatModel, create_chat_model
from core.providers.stt import Transcriber
from core.settings import Settings
from ingestion.dispatcher import dispatch_pending
from ingestion.worker import build_worker, startup
from meetings.pipeline import MeetingRuntime
from tests.conftest import Actor, Servers, make_settings
from tests.ingestion.helpers import pending_count
from v1tr0.worker import worker_plugins

API = "/api/v1"
MEETING_DATE = "2026-11-25T10:00:00+01:00"  # a Wednesday


async def make_meeting(
    client: httpx.AsyncClient, actor: Actor, *, project_id: str | None = None, start_time: str = MEETING_DATE
) -> tuple[str, str]:
    """(project id, meeting id), both made through the API."""
    if project_id is None:
        r = await client.post(f"{API}/projects", json={"title": "App"}, headers=actor.headers)
        assert r.status_code == 201, r.text
        project_id = r.json()["id"]
    r = await client.post(
        f"{API}/meetings",
        json={"project_id": project_id, "title": "Seguimiento", "start_time": start_time},
        headers=actor.headers,
    )
    assert r.status_code == 201, r.text
    return project_id, r.json()["id"]


async def upload(
    client: httpx.AsyncClient, actor: Actor, meeting_id: str, name: str, content: bytes, **data: str
) -> httpx.Response:
    return await client.post(
        f"{API}/transcriptions/upload/{meeting_id}",
        files={"file": (name, content, "application/octet-stream")},
        data=data,
        headers=actor.headers,
    )


async def get_transcription(client: httpx.AsyncClient, actor: Actor, transcription_id: str) -> dict[str, Any]:
    r = await client.get(f"{API}/transcriptions/{transcription_id}", headers=actor.headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def vtt(*cues: tuple[str, str]) -> bytes:
    """A WebVTT file of (speaker, text) cues, five seconds each."""
    parts = ["WEBVTT", ""]
    for index, (speaker, text) in enumerate(cues):
        parts += [
            f"00:00:{index * 5:02d}.000 --> 00:00:{index * 5 + 5:02d}.000",
            f"<v {speaker}>{text}</v>",
            "",
        ]
    return "\n".join(parts).encode()


# --- rows -----------------------------------------------------------------------------------------


async def transcription_row(resources: Resources, transcription_id: str | uuid.UUID) -> Transcription:
    async with resources.sessionmaker() as session:
        row = await session.get(Transcription, uuid.UUID(str(transcription_id)))
        assert row is not None
        return row


async def transcription_count(resources: Resources) -> int:
    async with resources.sessionmaker() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(Transcription)) or 0)


async def commitment_rows(resources: Resources) -> list[Commitment]:
    async with resources.sessionmaker() as session:
        query = sa.select(Commitment).order_by(Commitment.created_at, Commitment.task)
        return list((await session.scalars(query)).all())


def stored_uploads(settings: Settings, meeting_id: str) -> list[Path]:
    """The meeting's files under data_dir/uploads (rejected uploads must leave none)."""
    root = settings.data_dir.resolve() / "uploads" / meeting_id
    return sorted(path for path in root.rglob("*") if path.is_file()) if root.exists() else []


# --- audio ----------------------------------------------------------------------------------------


async def speech_wav(path: Path, text: str, *, voice: str = "es", words_per_minute: int = 150) -> Path:
    """`text` spoken by espeak-ng into a WAV file (22.05 kHz mono)."""
    espeak = shutil.which("espeak-ng")
    assert espeak, "espeak-ng is installed by scripts/system-deps.sh"
    process = await asyncio.create_subprocess_exec(
        espeak, "-v", voice, "-s", str(words_per_minute), "-w", str(path), text
    )
    assert await process.wait() == 0
    return path


def write_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> Path:
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
    return path


def tone(frequency: float, seconds: float, rate: int = 16000) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.4 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def silence(seconds: float, rate: int = 16000) -> np.ndarray:
    return np.zeros(int(seconds * rate), dtype=np.float32)


def wav_duration(data: bytes) -> float:
    import io

    with wave.open(io.BytesIO(data)) as reader:
        return reader.getnframes() / reader.getframerate()


# --- an OpenAI-compatible chat model on a MockTransport -------------------------------------------


@dataclass
class ScriptedChat:
    """/chat/completions answering each request with the next scripted reply (streamed as SSE)."""

    replies: list[str]
    requests: list[dict[str, Any]] = field(default_factory=list)

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert request.url.path.endswith("/chat/completions"), request.url
        self.requests.append(json.loads(request.content))
        reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
        chunks = [reply[i : i + 40] for i in range(0, len(reply), 40)] or [""]
        lines = [
            "data: " + json.dumps({"choices": [{"index": 0, "delta": {"content": chunk}}]}) + "\n\n"
            for chunk in chunks
        ]
        body = "".join(lines) + "data: [DONE]\n\n"
        return httpx.Response(200, text=body, headers={"content-type": "text/event-stream"})

    def model(self, servers: Servers) -> ChatModel:
        settings = make_settings(
            servers, openai={"base_url": "http://llm.test/v1", "api_key": "sk-test", "max_retries": 0}
        )
        http = httpx.AsyncClient(transport=httpx.MockTransport(self.handler))
        return create_chat_model(settings, http=http)


def summary_json(**fields: Any) -> str:
    body: dict[str, Any] = {
        "summary": "Se revisó el presupuesto.",
        "key_points": [],
        "decisions": [],
        "commitments": [],
        "next_steps": [],
    }
    body.update(fields)
    return json.dumps(body, ensure_ascii=False)


# --- a burst worker with replaceable meeting models -----------------------------------------------


async def drain_meetings(
    settings: Settings,
    resources: Resources,
    *,
    chat_model: ChatModel | None = None,
    transcriber: Transcriber | None = None,
) -> dict[str, Any]:
    """Outbox sweep + burst worker until the outbox is empty (a transcription's indexing is enqueued by the
    sweep after its job), with the worker's chat model and/or transcriber replaced."""

    async def startup_with_models(ctx: dict[str, Any]) -> None:
        await startup(ctx)
        ctx["meetings"] = MeetingRuntime(
            settings,
            ctx["runtime"].sessionmaker,
            ctx["redis"],
            transcriber=transcriber,
            chat_model=chat_model,
        )

    for _ in range(3):
        await dispatch_pending(resources.sessionmaker, resources.redis, requeue_after=3600)
        worker = build_worker(
            settings,
            plugins=worker_plugins(),
            burst=True,
            handle_signals=False,
            on_startup=startup_with_models,
        )
        try:
            await worker.main()
        finally:
            await worker.close()
        if not await pending_count(resources):
            return worker.ctx
    raise AssertionError("the outbox did not empty")


class FailingTranscriber:
    """A transcriber that must not be called (a summary-only job never transcribes)."""

    provider = "must-not-run"
    model = "none"

    def __init__(self) -> None:
        self.calls = 0

    async def transcribe(self, path: Path, *, language: str | None, progress: Callable[[float], None]) -> Any:
        self.calls += 1
        raise AssertionError("the transcriber was called")


async def read_events(pubsub: Any, *, until: str, within: float = 10.0) -> list[dict[str, object]]:
    """Messages published on the subscribed channel, up to and including the `until` event."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    events: list[dict[str, object]] = []
    while not events or events[-1]["event"] != until:
        assert loop.time() < deadline, f"no {until} event; got {events}"
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=0.5)
        if message is not None:
            events.append(json.loads(message["data"]))
    return events
