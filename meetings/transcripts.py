"""Importing transcripts made by other tools: WebVTT, SRT and JSON segments, with line numbers in errors.

Every parser returns segments `{"start", "end", "speaker", "text"}` (seconds, speaker may be None)."""

from __future__ import annotations

import codecs
import json
import math
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
        if format_name == "WebVTT" and re.match(r"(?:NOTE|STYLE|REGION)(?:\s|$)", block[0]):
            continue
        timing_at = next((i for i, line in enumerate(block[:2]) if "-->" in line), None)
        if timing_at is None:
            # After a numeric cue id, the timing line is the one that is wrong.
            wrong = 1 if len(block) > 1 and block[0].strip().isdigit() else 0
            raise TranscriptFormatError(
                "expected a timing line 'start --> end'",
                line=block_start + wrong + 1,
                format_name=format_name,
            )
        match = _CUE_TIMING.match(block[timing_at])
        if not match:
            raise TranscriptFormatError(
                f"malformed timing {block[timing_at].strip()!r}",
                line=block_start + timing_at + 1,
                format_name=format_name,
            )
        groups = match.groups()
        start, end = _seconds(groups[:4]), _seconds(groups[4:])
        if end < start:
            raise TranscriptFormatError(
                "a cue ends before it starts", line=block_start + timing_at + 1, format_name=format_name
            )
        text_lines = block[timing_at + 1 :]
        for offset, line in enumerate(text_lines):
            if "-->" in line:
                raise TranscriptFormatError(
                    "a timing line inside a cue's text (is the blank line before it missing?)",
                    line=block_start + timing_at + offset + 2,
                    format_name=format_name,
                )
        speaker, body = _speaker_and_text(text_lines)
        if body:
            segments.append({"start": start, "end": end, "speaker": speaker, "text": body})
    if not segments:
        raise TranscriptFormatError("no cues with text", format_name=format_name)
    return segments


def parse_vtt(text: str) -> list[Segment]:
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    if not re.match(r"WEBVTT(?:[ \t]|\n|$)", text):
        raise TranscriptFormatError("the file must start with 'WEBVTT'", line=1, format_name="WebVTT")
    lines = text.split("\n")
    # The header (the WEBVTT line and metadata such as "Kind: captions") ends at the first blank line.
    header_end = next(
        (i for i, line in enumerate(lines) if i and (not line.strip() or "-->" in line)), len(lines)
    )
    return _cues(text, format_name="WebVTT", first_line=header_end)


def parse_srt(text: str) -> list[Segment]:
    text = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")
    return _cues(text, format_name="SRT", first_line=0)


def _segment_lines(text: str) -> list[int]:
    """The 1-based line on which each segment object starts (a list, or the list under "segments")."""
    decoder = json.JSONDecoder()
    whitespace = re.compile(r"[\s,:]*")

    def skip(position: int) -> int:
        match = whitespace.match(text, position)
        return match.end() if match else position

    position = skip(0)
    if text.startswith("{", position):
        position = skip(position + 1)
        while position < len(text) and text[position] != "}":
            key, position = decoder.raw_decode(text, position)
            position = skip(position)
            if key == "segments":
                break
            _, position = decoder.raw_decode(text, position)
            position = skip(position)
    if not text.startswith("[", position):
        return []
    lines = []
    position = skip(position + 1)
    while position < len(text) and text[position] != "]":
        lines.append(text.count("\n", 0, position) + 1)
        _, position = decoder.raw_decode(text, position)
        position = skip(position)
    return lines


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def parse_json_segments(text: str) -> list[Segment]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TranscriptFormatError(exc.msg, line=exc.lineno, format_name="JSON") from None
    if isinstance(data, dict) and isinstance(data.get("segments"), list):
        data = data["segments"]
    if not isinstance(data, list) or not data:
        raise TranscriptFormatError("expected a non-empty list of segments", line=1, format_name="JSON")
    lines = _segment_lines(text)

    def invalid(position: int, problem: str) -> TranscriptFormatError:
        line = lines[position] if position < len(lines) else None
        return TranscriptFormatError(f"segment {position} {problem}", line=line, format_name="JSON")

    segments = []
    for position, item in enumerate(data):
        if not isinstance(item, dict):
            raise invalid(position, "is not an object")
        start, end = _number(item.get("start")), _number(item.get("end"))
        if start is None or end is None:
            raise invalid(position, "needs numeric start and end")
        text_value = item.get("text")
        if not isinstance(text_value, str):
            raise invalid(position, "needs a text string")
        if start < 0 or end < start:
            raise invalid(position, "has start/end out of order")
        speaker = item.get("speaker")
        if text_value.strip():
            segments.append(
                {
                    "start": start,
                    "end": end,
                    "speaker": str(speaker).strip() or None if speaker is not None else None,
                    "text": text_value.strip(),
                }
            )
    if not segments:
        raise TranscriptFormatError("no segment has text", format_name="JSON")
    return segments


def _decode(raw: bytes, *, final: bool) -> str:
    """UTF-8 (with or without a BOM) or UTF-16 with a BOM; `final=False` tolerates a cut last character."""
    encoding = "utf-16" if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) else "utf-8-sig"
    text: str = codecs.getincrementaldecoder(encoding)().decode(raw, final=final)
    return text


def sniff_transcript(raw: bytes) -> str | None:
    """'vtt', 'srt' or 'json' when the bytes look like a transcript file; None otherwise (maybe audio)."""
    try:
        head = _decode(raw[:4096], final=False).lstrip()
    except UnicodeDecodeError:
        return None
    if "\x00" in head:
        return None
    if re.match(r"WEBVTT(?:[ \t]|\r?\n|$)", head):
        return "vtt"
    if head.startswith(("[", "{")):
        return "json"
    if re.match(r"^(?:\d+\s*\r?\n\s*)?" + _TIMESTAMP + r"\s*-->", head):
        return "srt"
    return None


PARSERS = {"vtt": parse_vtt, "srt": parse_srt, "json": parse_json_segments}


def parse_transcript(kind: str, raw: bytes) -> list[Segment]:
    try:
        text = _decode(raw, final=True)
    except UnicodeDecodeError as exc:
        raise TranscriptFormatError(f"not UTF-8 or UTF-16 text (byte {exc.start})") from None
    return PARSERS[kind](text)
