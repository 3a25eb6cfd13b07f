"""Transcription progress: reported from Whisper's thread, stored and announced in the order reported,
even when an earlier update is slower than a later one."""

from __future__ import annotations

import asyncio
import threading
import uuid
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from meetings import pipeline


class ThreadedTranscriber:
    """Reports progress from a thread, as faster-whisper's segment loop does."""

    async def transcribe(self, path: Path, *, language: str | None, progress: Any) -> Any:
        def run() -> None:
            for fraction in (0.25, 0.5, 0.75, 1.0):
                progress(fraction)

        thread = threading.Thread(target=run)
        thread.start()
        await asyncio.to_thread(thread.join)
        return SimpleNamespace(
            segments=[{"start": 0.0, "end": 1.0, "text": "Hola."}],
            language="es",
            duration=1.0,
            confidence=None,
            provider="scripted",
            model="none",
        )


async def test_progress_updates_land_in_the_order_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    landed: list[tuple[str, int]] = []

    async def update(runtime: Any, transcription_id: uuid.UUID, **values: Any) -> None:
        if "progress" in values and set(values) == {"progress"}:
            # The earlier the update, the slower its write: without ordering, later ones overtake it.
            await asyncio.sleep((100 - values["progress"]) / 1000)
            landed.append(("stored", values["progress"]))

    async def event(runtime: Any, meeting_id: Any, project_id: Any, name: str, **data: Any) -> None:
        landed.append(("announced", data["percent"]))

    monkeypatch.setattr(pipeline, "_update", update)
    monkeypatch.setattr(pipeline, "_event", event)
    runtime = SimpleNamespace(transcriber=ThreadedTranscriber())
    await pipeline._transcribe(
        runtime,  # type: ignore[arg-type]
        uuid.uuid4(),
        uuid.uuid4(),
        uuid.uuid4(),
        Path("a.wav"),
        None,
    )
    assert landed == [
        ("announced", 0),
        ("stored", 25),
        ("announced", 25),
        ("stored", 50),
        ("announced", 50),
        ("stored", 75),
        ("announced", 75),
        ("stored", 99),
        ("announced", 100),
    ]
