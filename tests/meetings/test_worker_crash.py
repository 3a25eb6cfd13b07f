"""A worker killed (SIGKILL) in the middle of transcribing: the next worker's sweep runs the job again and
it completes; once `max_attempts` is spent it ends failed with the reason. It never sticks in processing.
And a slow job that is alive is never taken for a dead one."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np

from core.events import meeting_channel
from core.models import ProcessingStatus, Transcription
from core.providers.stt import TranscriptResult
from meetings.pipeline import MeetingRuntime, process_transcription, requeue_stale
from tests.conftest import make_settings
from tests.ingestion.test_worker_process import WorkerProcess as ProcessWorker
from tests.meetings.helpers import (
    get_transcription,
    make_meeting,
    read_events,
    silence,
    speech_wav,
    tone,
    transcription_row,
    upload,
    write_wav,
)

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 90.0
REQUEUE_AFTER = 2

# About 25 seconds of speech at 150 words per minute.
SPEECH = (
    "Buenos días a todos. Hoy revisamos el avance del proyecto de la tienda en línea. "
    "El equipo de diseño terminó las pantallas principales y el cliente las aprobó el lunes. "
    "Me encargo de enviar el presupuesto actualizado para el viernes. "
    "Luis va a preparar la demostración para la próxima semana. "
    "Decidimos publicar la primera versión a finales de enero, después de las pruebas con usuarios."
)


class WorkerProcess(ProcessWorker):
    """`python -m v1tr0 worker` on the test database and Redis, sharing the test data dir (and its model)."""

    def __init__(self, servers: Any, settings: Any, log_path: Path, **env: str) -> None:
        super().__init__(
            servers,
            log_path,
            V1TR0_DATA_DIR=str(settings.data_dir),
            V1TR0_INGESTION__REQUEUE_AFTER=str(REQUEUE_AFTER),
            V1TR0_TRANSCRIPTION__BEAM_SIZE="1",
            **env,
        )


async def eventually(
    condition: Callable[[], Awaitable[bool]], what: str, worker: WorkerProcess, *, within: float = DEADLINE
) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        assert worker.alive(), f"the worker exited while waiting for {what}:\n{worker.log()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{worker.log()}"
        await asyncio.sleep(0.02)


async def kill_mid_transcription(
    servers, client, factory, settings, resources, tmp_path: Path, **second_env: str
) -> tuple[Any, str, Transcription, WorkerProcess]:
    """Upload speech, start a worker, SIGKILL it while it transcribes, start a second worker.
    Returns (owner, transcription id, the row right after the kill, the second worker)."""
    owner = await factory.user()
    _, meeting_id = await make_meeting(client, owner)
    wav = await speech_wav(tmp_path / "speech.wav", SPEECH)
    r = await upload(client, owner, meeting_id, "reunion.wav", wav.read_bytes(), language="es")
    assert r.status_code == 202, r.text
    transcription_id = r.json()["id"]
    assert 20 < r.json()["duration_seconds"] < 35

    first = WorkerProcess(servers, settings, tmp_path / "worker-1.log")
    second = WorkerProcess(servers, settings, tmp_path / "worker-2.log", **second_env)
    try:
        first.start()

        async def transcribing() -> bool:
            row = await transcription_row(resources, transcription_id)
            assert row.processing_status != ProcessingStatus.COMPLETED, "finished before it could be killed"
            return row.processing_status == ProcessingStatus.PROCESSING and row.stage == "transcribing"

        await eventually(transcribing, "the job to start transcribing", first)
        first.kill()
        killed = await transcription_row(resources, transcription_id)
        assert killed.processing_status == ProcessingStatus.PROCESSING
        assert killed.attempts == 1 and killed.segments == []  # killed before any transcript was saved
        second.start()
    except BaseException:
        first.stop()
        second.stop()
        raise
    return owner, transcription_id, killed, second


async def test_a_killed_transcription_is_run_again_and_completes(
    servers, client, factory, settings, resources, tmp_path
) -> None:
    owner, transcription_id, _, second = await kill_mid_transcription(
        servers, client, factory, settings, resources, tmp_path
    )
    try:

        async def finished() -> bool:
            row = await transcription_row(resources, transcription_id)
            assert row.processing_status != ProcessingStatus.FAILED, row.error
            return row.processing_status == ProcessingStatus.COMPLETED and row.stage == "indexed"

        await eventually(finished, "the transcription to complete", second)
    finally:
        second.stop()
    body = await get_transcription(client, owner, transcription_id)
    assert body["processing_status"] == "completed" and body["error"] is None
    assert body["provider"] == "faster-whisper" and body["language"] == "es"
    assert "presupuesto" in body["transcript_text"].lower()
    assert body["segments"] and body["segments"][-1]["end"] > 15
    row = await transcription_row(resources, transcription_id)
    assert row.attempts >= 2  # the killed attempt, then the one that finished


async def test_a_killed_transcription_fails_once_attempts_are_spent(
    servers, client, factory, settings, resources, redis_client, tmp_path
) -> None:
    owner, transcription_id, killed, second = await kill_mid_transcription(
        servers, client, factory, settings, resources, tmp_path, V1TR0_INGESTION__MAX_ATTEMPTS="1"
    )
    pubsub = redis_client.pubsub()
    try:
        await pubsub.subscribe(meeting_channel(str(killed.meeting_id)))

        async def failed() -> bool:
            row = await transcription_row(resources, transcription_id)
            assert row.processing_status != ProcessingStatus.COMPLETED
            return row.processing_status == ProcessingStatus.FAILED

        await eventually(failed, "the transcription to be given up", second)
        events = await read_events(pubsub, until="failed")
    finally:
        second.stop()
        await pubsub.aclose()
    body = await get_transcription(client, owner, transcription_id)
    assert body["processing_status"] == "failed" and body["stage"] == "failed"
    assert body["error"] == "gave up after 1 attempts (the worker stopped while processing)"
    assert events[-1]["transcription_id"] == transcription_id and events[-1]["reason"] == body["error"]
    # Not stuck: the meeting takes a new upload.
    r = await upload(
        client, owner, str(killed.meeting_id), "otra.vtt", b"WEBVTT\n\n00:01.000 --> 00:02.000\nHola\n"
    )
    assert r.status_code == 202, r.text


class GatedTranscriber:
    """Transcribes nothing until released: a job that is slow but alive."""

    provider = "gated"
    model = "gated-1"

    def __init__(self) -> None:
        self.entered = asyncio.Event()
        self.release = asyncio.Event()

    async def transcribe(self, path: Path, *, language: str | None, progress: Callable[[float], None]) -> Any:
        self.entered.set()
        await self.release.wait()
        segments = [{"start": 0.0, "end": 1.0, "speaker": None, "text": "Listo."}]
        return TranscriptResult(segments, "es", 1.0, None, self.provider, self.model)


async def test_a_slow_live_job_is_not_requeued(servers, client, factory, resources, tmp_path) -> None:
    owner = await factory.user()
    _, meeting_id = await make_meeting(client, owner)
    clip = write_wav(tmp_path / "beep.wav", np.concatenate([tone(440, 0.5), silence(0.5)]))
    r = await upload(client, owner, meeting_id, "beep.wav", clip.read_bytes())
    transcription_id = uuid.UUID(r.json()["id"])
    stale_after = 1.0
    settings = make_settings(servers, ingestion={"requeue_after": stale_after})
    gate = GatedTranscriber()
    runtime = MeetingRuntime(settings, resources.sessionmaker, resources.redis, transcriber=gate)
    job = asyncio.create_task(process_transcription(runtime, transcription_id, False))
    try:
        await asyncio.wait_for(gate.entered.wait(), 10)
        # Three times the stale threshold with the job stuck in the transcriber: the sweep leaves it alone.
        until = time.monotonic() + 3 * stale_after
        while time.monotonic() < until:
            requeued = await requeue_stale(
                resources.sessionmaker, resources.redis, stale_after=stale_after, max_attempts=5
            )
            assert requeued == 0
            await asyncio.sleep(0.05)
        gate.release.set()
        assert await asyncio.wait_for(job, 10) == "completed"
    finally:
        gate.release.set()
        if not job.done():
            job.cancel()
    row = await transcription_row(resources, transcription_id)
    assert row.processing_status == ProcessingStatus.COMPLETED and row.attempts == 1
    assert row.segments == [{"start": 0.0, "end": 1.0, "speaker": None, "text": "Listo."}]
    # The upload's own job is still queued (no worker ran it); no other attempt was enqueued.
    assert await resources.redis.exists(f"arq:job:transcription:{transcription_id}:0") == 1
    assert await resources.redis.exists(f"arq:job:transcription:{transcription_id}:1") == 0
