"""Importing transcripts made by other tools: WebVTT, SRT and JSON segments, with line numbers in errors.

Every parser returns segments `{"start", "end", "speaker", "text"}` (seconds, speaker may be None)."""

from __future__ import annotations

import json
import re
from typing import Any

Segment = dict[str, Any]

_TIMESTAMP = r"(?:(\d{1,3}):)?(\d{1,2}):(\d{2})[.,](\d{1,3})"
_CUE_TIMING = re.compile(rf"^\s*{_TIMESTAMP}\s*-->\s*{_TIMESTAMP}(?:\s+.*)?$")
_VOICE = re.compile(r"^<v(?:\.[\w.-]+)?\s+([^>]+)>(.*?)(?:</v>)?$", re.DOTALL)
_SPEAKER_PREFIX = re.compile(r"^([A-ZÁÉÍÓÚÑ][\w .'-]{0,40}):\s+(.+)$", re.DOTALL)
_TAG = re.compile(r"</?[^>]+>")


class TranscriptFormatError(ValueError):
    """A transcript file that cannot be read; `line` is 1-based when known."""

    def __init__(self, message: str, *, line: int | None = None, format_name: str = "transcript") -> None:
        where = f" (line {line})" if line else ""
        super().__init__(f"invalid {format_name}{where}: {message}")
        self.line = line
        self.format_name = format_name
        self.reason = message


def _seconds(groups: tuple[str | None, ...]) -> float:
    hours, minutes, seconds, fraction = groups
    millis = int((fraction or "0").ljust(3, "0")[:3])
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(seconds or 0) + millis / 1000


def _speaker_and_text(lines: list[str]) -> tuple[str | None, str]:
    raw = " ".join(line.strip() for line in lines if line.strip())
    speaker = None
    voice = _VOICE.match(raw)
    if voice:
        speaker, raw = voice.group(1).strip(), voice.group(2)
    text = _TAG.sub("", raw).strip()
    if speaker is None:
        prefixed = _SPEAKER_PREFIX.match(text)
        if prefixed:
            speaker, text = prefixed.group(1).strip(), prefixed.group(2).strip()
    return speaker, text


def _cues(text: str, *, format_name: str, first_line: int) -> list[Segment]:
    """Cue blocks shared by WebVTT and SRT: an optional id line, a timing line, text lines."""
    lines = text.split("\n")
    segments: list[Segment] = []
    index = first_line
    while index < len(lines):
        if not lines[index].strip():
            index += 1
            continue
        block_start = index
        block: list[str] = []
        while index < len(lines) and lines[index].strip():
            block.append(lines[index])
            index += 1
        if format_name == "WebVTT" and block[0].startswith(("NOTE", "STYLE", "REGION")):
            continue
        timing_at = next((i for i, line in enumerate(block[:2]) if "-->" in line), None)
        if timing_at is None:
            raise TranscriptFormatError("expected a timing line 'start --> end'", line=block_start + 1,
                                        format_name=format_name)
        match = _CUE_TIMING.match(block[timing_at])
        if not match:
            raise TranscriptFormatError(f"malformed timing {block[timing_at].strip()!r}",
                                        line=block_start + timing_at + 1, format_name=format_name)
        groups = match.groups()
        start, end = _seconds(groups[:4]), _seconds(groups[4:])
        if end < start:
            raise TranscriptFormatError("a cue ends before it starts", line=block_start + timing_at + 1,
                                        format_name=format_name)
        speaker, body = _speaker_and_text(block[timing_at + 1 :])
        if body:
            segments.append({"start": start, "end": end, "speaker": speaker, "text": body})
    if not segments:
        raise TranscriptFormatError("no cues with text", format_name=format_name)
    return segments


def parse_vtt(text: str) -> list[Segment]:
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    if not text.startswith("WEBVTT"):
        raise TranscriptFormatError("the file must start with 'WEBVTT'", line=1, format_name="WebVTT")
    return _cues(text, format_name="WebVTT", first_line=1)


def parse_srt(text: str) -> list[Segment]:
    text = text.replace("\r\n", "\n").lstrip("\ufeff")
    return _cues(text, format_name="SRT", first_line=0)


def parse_json_segments(text: str) -> list[Segment]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TranscriptFormatError(exc.msg, line=exc.lineno, format_name="JSON") from None
    if isinstance(data, dict) and isinstance(data.get("segments"), list):
        data = data["segments"]
    if not isinstance(data, list) or not data:
        raise TranscriptFormatError("expected a non-empty list of segments", format_name="JSON")
    segments = []
    for position, item in enumerate(data):
        where = f"segment {position}"
        if not isinstance(item, dict):
            raise TranscriptFormatError(f"{where} is not an object", format_name="JSON")
        try:
            start, end = float(item["start"]), float(item["end"])
        except (KeyError, TypeError, ValueError):
            raise TranscriptFormatError(f"{where} needs numeric start and end", format_name="JSON") from None
        text_value = item.get("text")
        if not isinstance(text_value, str):
            raise TranscriptFormatError(f"{where} needs a text string", format_name="JSON")
        if start < 0 or end < start:
            raise TranscriptFormatError(f"{where} has start/end out of order", format_name="JSON")
        speaker = item.get("speaker")
        if text_value.strip():
            segments.append(
                {"start": start, "end": end, "speaker": str(speaker) if speaker else None, "text": text_value.strip()}
            )
    if not segments:
        raise TranscriptFormatError("no segment has text", format_name="JSON")
    return segments


def sniff_transcript(raw: bytes) -> str | None:
    """'vtt', 'srt' or 'json' when the bytes look like a transcript file; None otherwise (maybe audio)."""
    if b"\x00" in raw[:4096]:
        return None
    try:
        head = raw[:4096].decode("utf-8-sig").lstrip()
    except UnicodeDecodeError:
        return None
    if head.startswith("WEBVTT"):
        return "vtt"
    if head.startswith(("[", "{")):
        return "json"
    if re.match(r"^\d+\s*\r?\n\s*" + _TIMESTAMP + r"\s*-->", head):
        return "srt"
    return None


PARSERS = {"vtt": parse_vtt, "srt": parse_srt, "json": parse_json_segments}


def parse_transcript(kind: str, raw: bytes) -> list[Segment]:
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TranscriptFormatError(f"not UTF-8 (byte {exc.start})") from None
    return PARSERS[kind](text)
