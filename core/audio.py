"""Audio files: checked by content (PyAV decodes them, whatever the file is called), measured, split."""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np


class AudioError(ValueError):
    pass


@dataclass(frozen=True)
class AudioInfo:
    duration: float
    codec: str
    container: str


def probe_audio(path: Path) -> AudioInfo:
    """Open the file as media and make sure an audio stream decodes; raise AudioError otherwise."""
    import av

    try:
        with av.open(str(path)) as container:
            streams = [s for s in container.streams if s.type == "audio"]
            if not streams:
                raise AudioError("the file has no audio stream")
            stream = streams[0]
            duration = None
            if stream.duration is not None and stream.time_base is not None:
                duration = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                duration = container.duration / 1_000_000
            decoded = 0
            last_time = 0.0
            for frame in container.decode(stream):
                decoded += 1
                if isinstance(frame, av.AudioFrame) and frame.time is not None:
                    last_time = float(frame.time) + frame.samples / (frame.sample_rate or 16000)
                if duration is not None and decoded >= 20:
                    break
            if decoded == 0:
                raise AudioError("no audio could be decoded")
            return AudioInfo(
                duration=duration if duration is not None else last_time,
                codec=stream.codec_context.name,
                container=container.format.name,
            )
    except AudioError:
        raise
    except Exception as exc:  # PyAV raises many error types for truncated or non-media files
        raise AudioError(f"not a readable audio or video file ({type(exc).__name__})") from None


def decode_mono_16k(path: Path) -> np.ndarray:
    """The whole file as 16 kHz mono float32 samples."""
    from faster_whisper.audio import decode_audio  # type: ignore[import-untyped]

    samples: np.ndarray = decode_audio(str(path), sampling_rate=16000)
    return samples


def split_on_silence(
    samples: np.ndarray, *, max_seconds: float, rate: int = 16000
) -> list[tuple[float, np.ndarray]]:
    """Pieces of at most `max_seconds`, each cut at the quietest 100 ms of its tail: the last 10%, but at
    least 3 s (speech pauses every few seconds) and at most half the piece."""
    window = rate // 10
    pieces: list[tuple[float, np.ndarray]] = []
    start = 0
    limit = max(int(max_seconds * rate), 1)
    frames = min(max(int(limit * 0.1), 3 * rate), limit // 2) // window
    while start < len(samples):
        end = min(start + limit, len(samples))
        if end < len(samples) and frames > 0:
            search_from = end - frames * window
            region = samples[search_from:end].reshape(frames, window)
            energy = np.sqrt((region**2).mean(axis=1))
            end = search_from + int(np.argmin(energy)) * window + window // 2
        pieces.append((start / rate, samples[start:end]))
        start = end
    return pieces


def write_wav(path: Path, samples: np.ndarray, rate: int = 16000) -> None:
    pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm.tobytes())
