"""OpenAI-compatible transcription through an `httpx.MockTransport`: verbose_json segments are read, and a
file over `openai_max_bytes` is split on silence into pieces whose timestamps are shifted and stitched."""

from __future__ import annotations

import io
import wave
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from core.errors import ProviderUnavailable
from core.providers.stt import OpenAITranscriber, create_transcriber
from tests.conftest import make_settings
from tests.meetings.helpers import silence, tone, write_wav

RATE = 16000


def form_parts(request: httpx.Request) -> dict[str, tuple[str | None, bytes]]:
    """The multipart form of a request: field name -> (file name, content)."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + request.content)
    parts = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        parts[str(name)] = (part.get_filename(), part.get_payload(decode=True))
    return parts


def samples_of(wav_bytes: bytes) -> np.ndarray:
    with wave.open(io.BytesIO(wav_bytes)) as reader:
        assert reader.getframerate() == RATE and reader.getnchannels() == 1
        return (
            np.frombuffer(reader.readframes(reader.getnframes()), dtype=np.int16).astype(np.float32) / 32767
        )


def tone_segments(samples: np.ndarray) -> list[dict[str, Any]]:
    """What a fake speech recogniser hears in a piece: each run of tone, named by its frequency."""
    window = RATE // 100
    frames = len(samples) // window
    loud = np.abs(samples[: frames * window].reshape(frames, window)).max(axis=1) > 0.05
    segments, start = [], None
    for index, is_loud in enumerate([*loud, False]):
        if is_loud and start is None:
            start = index
        elif not is_loud and start is not None:
            run = samples[start * window : index * window]
            frequency = int(round(np.argmax(np.abs(np.fft.rfft(run))) * RATE / len(run) / 50) * 50)
            segments.append({"start": start / 100, "end": index / 100, "text": f" tono {frequency} "})
            start = None
    return segments


class FakeTranscriptionAPI:
    def __init__(self, *, language: str = "spanish") -> None:
        self.language = language
        self.requests: list[httpx.Request] = []
        self.files: list[tuple[str | None, bytes]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        assert request.url == "http://stt.test/v1/audio/transcriptions"
        parts = form_parts(request)
        self.files.append(parts["file"])
        samples = samples_of(parts["file"][1])
        return httpx.Response(
            200,
            json={
                "task": "transcribe",
                "language": self.language,
                "duration": round(len(samples) / RATE, 3),
                "text": "...",
                "segments": tone_segments(samples),
            },
        )

    def transcriber(self, servers, **transcription: Any) -> OpenAITranscriber:
        settings = make_settings(
            servers,
            openai={"base_url": "http://stt.test/v1", "api_key": "sk-test", "max_retries": 0},
            transcription={"provider": "openai", **transcription},
        )
        http = httpx.AsyncClient(transport=httpx.MockTransport(self.handler))
        transcriber = create_transcriber(settings, http=http)
        assert isinstance(transcriber, OpenAITranscriber)
        return transcriber


async def test_verbose_json_segments_are_read(servers, tmp_path: Path) -> None:
    api = FakeTranscriptionAPI()
    audio = np.concatenate([silence(0.5), tone(300, 1.0), silence(0.5), tone(600, 0.5), silence(0.5)])
    path = write_wav(tmp_path / "upload.bin", audio)  # stored uploads are named .bin
    progress: list[float] = []
    result = await api.transcriber(servers).transcribe(path, language="es", progress=progress.append)

    assert result.segments == [
        {"start": 0.5, "end": 1.5, "speaker": None, "text": "tono 300"},
        {"start": 2.0, "end": 2.5, "speaker": None, "text": "tono 600"},
    ]
    assert (result.language, result.duration, result.provider, result.model) == (
        "es",
        3.0,
        "openai-compatible",
        "whisper-1",
    )
    assert progress == [1.0]
    (request,) = api.requests
    assert request.headers["authorization"] == "Bearer sk-test"
    parts = form_parts(request)
    assert parts["model"][1] == b"whisper-1"
    assert parts["response_format"][1] == b"verbose_json"
    assert parts["language"][1] == b"es"
    assert parts["file"][0] == "audio.wav"  # named by content, so the API knows the format
    assert parts["file"][1] == path.read_bytes()


async def test_language_is_detected_when_not_given(servers, tmp_path: Path) -> None:
    api = FakeTranscriptionAPI(language="english")
    path = write_wav(tmp_path / "a.wav", np.concatenate([tone(440, 0.5), silence(0.5)]))
    result = await api.transcriber(servers).transcribe(path, language=None, progress=lambda _: None)
    assert result.language == "en"
    assert "language" not in form_parts(api.requests[0])


async def test_a_large_file_is_split_on_silence_and_stitched_in_order(servers, tmp_path: Path) -> None:
    # Twenty tones of 0.6 s, each followed by 0.4 s of silence, each at its own pitch: 20 s, 640 KB.
    frequencies = [200 + 50 * i for i in range(20)]
    audio = np.concatenate([np.concatenate([tone(f, 0.6), silence(0.4)]) for f in frequencies])
    path = write_wav(tmp_path / "long.wav", audio)
    max_bytes = 200_000
    assert path.stat().st_size > 3 * max_bytes
    api = FakeTranscriptionAPI()
    progress: list[float] = []
    result = await api.transcriber(servers, openai_max_bytes=max_bytes).transcribe(
        path, language="es", progress=progress.append
    )

    pieces = len(api.requests)
    assert pieces == result.extra["pieces"] >= 4
    for name, content in api.files:
        assert name is not None and name.endswith(".wav")
        assert len(content) <= max_bytes  # every piece fits the provider's limit
    # Every cut fell in a silence: each tone is heard whole, once, at its place in the original.
    assert [segment["text"] for segment in result.segments] == [f"tono {f}" for f in frequencies]
    for index, segment in enumerate(result.segments):
        assert segment["start"] == pytest.approx(index * 1.0, abs=0.02)
        assert segment["end"] == pytest.approx(index * 1.0 + 0.6, abs=0.02)
    assert result.duration == pytest.approx(20.0, abs=0.01)
    assert progress == pytest.approx([(i + 1) / pieces for i in range(pieces)])
    # The pieces are contiguous: together they are the whole file.
    assert sum(len(samples_of(content)) for _, content in api.files) == len(audio)


async def test_a_refusing_provider_is_reported(servers, tmp_path: Path) -> None:
    settings = make_settings(
        servers,
        openai={"base_url": "http://stt.test/v1", "api_key": "sk-test", "max_retries": 0},
        transcription={"provider": "openai"},
    )
    http = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(400, json={})))
    path = write_wav(tmp_path / "a.wav", tone(440, 0.5))
    with pytest.raises(ProviderUnavailable, match="refused the file"):
        await create_transcriber(settings, http=http).transcribe(path, language=None, progress=lambda _: None)
