"""Transcripts from other tools: WebVTT, SRT and JSON segments; malformed files name the line at fault."""

from __future__ import annotations

import codecs
import json

import pytest

from meetings.transcripts import (
    TranscriptFormatError,
    parse_json_segments,
    parse_srt,
    parse_transcript,
    parse_vtt,
    sniff_transcript,
)
from tests.meetings.helpers import API, make_meeting, transcription_count, upload

VTT = """WEBVTT - Reunión de seguimiento
Kind: captions
Language: es

NOTE
Exportado desde Zoom.
Dos líneas de nota.

STYLE
::cue { color: white }

intro
00:00:01.000 --> 00:00:04.500 align:start position:10%
<v.loud Ana García>Buenos días a <b>todos</b>.</v>

NOTE una nota de una línea

00:00:05.000 --> 00:00:09.250
Luis: Decidimos usar React Native
para la app móvil.

01:02:03.500 --> 01:02:07.000
<c.yellow>Sin hablante</c> al final.
"""

SRT = """1
00:00:01,000 --> 00:00:04,000
Ana: Me encargo del presupuesto.

2
00:00:04,500 --> 00:00:08,000
<i>Texto en dos</i>
líneas.

3
01:00:00,000 --> 01:00:02,500
Fin.
"""


def test_vtt_voice_tags_prefixes_notes_and_hours() -> None:
    assert parse_vtt(VTT) == [
        {"start": 1.0, "end": 4.5, "speaker": "Ana García", "text": "Buenos días a todos."},
        {
            "start": 5.0,
            "end": 9.25,
            "speaker": "Luis",
            "text": "Decidimos usar React Native para la app móvil.",
        },
        {"start": 3723.5, "end": 3727.0, "speaker": None, "text": "Sin hablante al final."},
    ]


def test_vtt_with_crlf_and_bom_and_short_timestamps() -> None:
    text = "\ufeffWEBVTT\r\n\r\n00:01.000 --> 00:02.000\r\nHola.\r\n"
    assert parse_vtt(text) == [{"start": 1.0, "end": 2.0, "speaker": None, "text": "Hola."}]


def test_srt() -> None:
    assert parse_srt(SRT) == [
        {"start": 1.0, "end": 4.0, "speaker": "Ana", "text": "Me encargo del presupuesto."},
        {"start": 4.5, "end": 8.0, "speaker": None, "text": "Texto en dos líneas."},
        {"start": 3600.0, "end": 3602.5, "speaker": None, "text": "Fin."},
    ]


def test_json_segments_as_a_list_or_under_segments() -> None:
    items = [
        {"start": 0, "end": 2.5, "speaker": "Ana", "text": " Hola. "},
        {"start": "2.5", "end": 4, "text": "Sin hablante."},
        {"start": 4, "end": 5, "text": "   "},
    ]
    expected = [
        {"start": 0.0, "end": 2.5, "speaker": "Ana", "text": "Hola."},
        {"start": 2.5, "end": 4.0, "speaker": None, "text": "Sin hablante."},
    ]
    assert parse_json_segments(json.dumps(items)) == expected
    assert parse_json_segments(json.dumps({"language": "es", "segments": items}, indent=2)) == expected


@pytest.mark.parametrize(
    ("parser", "text", "line", "reason"),
    [
        (parse_vtt, "WEBVTTX\n\n00:00:01.000 --> 00:00:02.000\nHola\n", 1, "must start with 'WEBVTT'"),
        (parse_vtt, "1\n00:00:01.000 --> 00:00:02.000\nHola\n", 1, "must start with 'WEBVTT'"),
        (
            parse_vtt,
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHola\n\n00:00:0X.000 --> 00:00:04.000\nMal\n",
            6,
            "malformed timing",
        ),
        (
            parse_vtt,
            "WEBVTT\n\nNOTE x\n\n00:00:05.000 --> 00:00:04.000\nAl revés\n",
            5,
            "ends before it starts",
        ),
        (
            parse_vtt,
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHola\n\nTexto suelto sin tiempos\n",
            6,
            "expected a timing line",
        ),
        (
            parse_vtt,
            "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nHola\n00:00:03.000 --> 00:00:04.000\nOtra\n",
            5,
            "blank line before it missing",
        ),
        (
            parse_srt,
            "1\n00:00:01,000 --> 00:00:02,000\nHola\n\n2\n00:00:03,000 -> 00:00:04,000\nMal\n",
            6,
            "expected a timing line",
        ),
        (
            parse_srt,
            "1\n00:00:01,000 --> 00:00:02,000\nHola\n2\n00:00:03,000 --> 00:00:04,000\nOtra\n",
            5,
            "blank line before it missing",
        ),
        (
            parse_json_segments,
            '[\n  {"start": 0, "end": 1, "text": "a"},\n  {"start": 1 "end": 2}\n]',
            3,
            "Expecting ','",
        ),
        (
            parse_json_segments,
            '[\n  {"start": 0, "end": 1, "text": "a"},\n\n  {"end": 2, "text": "b"}\n]',
            4,
            "segment 1 needs numeric start and end",
        ),
        (
            parse_json_segments,
            '{\n  "language": "es",\n  "segments": [\n    {"start": 0, "end": 1, "text": "a"},\n'
            '    {"start": 2, "end": 1, "text": "b"}\n  ]\n}',
            5,
            "segment 1 has start/end out of order",
        ),
        (
            parse_json_segments,
            '[{"start": 0, "end": 1, "text": "a"},\n {"start": NaN, "end": 1, "text": "b"}]',
            2,
            "segment 1 needs numeric start and end",
        ),
        (parse_json_segments, '[{"start": 0, "end": 1, "text": 5}]', 1, "segment 0 needs a text string"),
        (parse_json_segments, "[]", 1, "expected a non-empty list of segments"),
    ],
)
def test_malformed_files_name_the_line(parser, text: str, line: int, reason: str) -> None:
    with pytest.raises(TranscriptFormatError) as caught:
        parser(text)
    assert caught.value.line == line, str(caught.value)
    assert reason in caught.value.reason
    assert f"(line {line})" in str(caught.value)


def test_a_transcript_without_any_text_is_rejected() -> None:
    with pytest.raises(TranscriptFormatError, match="no cues with text"):
        parse_vtt("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n\n")
    with pytest.raises(TranscriptFormatError, match="no segment has text"):
        parse_json_segments('[{"start": 0, "end": 1, "text": " "}]')


def test_sniffing() -> None:
    wav = b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00\x01\x00" + bytes(100)
    assert sniff_transcript(VTT.encode()) == "vtt"
    assert sniff_transcript(codecs.BOM_UTF8 + b"\n\nWEBVTT\n") == "vtt"
    assert sniff_transcript(SRT.encode()) == "srt"
    assert sniff_transcript("00:00:01,000 --> 00:00:02,000\nSin número de cue\n".encode()) == "srt"
    assert sniff_transcript(b'  [{"start": 0, "end": 1, "text": "a"}]') == "json"
    assert sniff_transcript(b'{"segments": []}') == "json"
    assert sniff_transcript(wav) is None
    assert sniff_transcript(b"ID3\x04\x00\x00\x00\x00\x00\x00" + bytes(50)) is None
    assert sniff_transcript(b"just some text, not audio") is None
    assert sniff_transcript(b"WEBVTTX\n") is None
    assert sniff_transcript(b"") is None


def test_sniffing_survives_a_character_cut_at_the_sniffed_prefix() -> None:
    # Spanish text: the 4096-byte prefix may end inside a two-byte character.
    text = "WEBVTT\n\n00:00:01.000 --> 00:00:02.000\nA" + "ñ" * 5000 + "\n"
    raw = text.encode()
    assert len(raw[:4096].decode("utf-8", errors="ignore").encode()) < 4096  # the cut is mid-character
    assert sniff_transcript(raw) == "vtt"
    assert parse_transcript("vtt", raw)[0]["text"] == "A" + "ñ" * 5000


def test_utf16_transcripts_from_windows_tools() -> None:
    raw = SRT.encode("utf-16")  # with a BOM
    assert sniff_transcript(raw) == "srt"
    assert parse_transcript("srt", raw) == parse_srt(SRT)
    with pytest.raises(TranscriptFormatError, match="not UTF-8 or UTF-16"):
        parse_transcript("vtt", b"WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n\xff\xfe\xfa\n")


async def test_malformed_json_upload_reports_the_line_and_stores_nothing(client, factory, settings) -> None:
    owner = await factory.user()
    _, meeting_id = await make_meeting(client, owner)
    body = '[\n  {"start": 0, "end": 1, "text": "Hola"},\n  {"start": 1, "end": "x", "text": "Adiós"}\n]'
    r = await upload(client, owner, meeting_id, "transcript.json", body.encode())
    assert r.status_code == 422, r.text
    error = r.json()["error"]
    assert error["code"] == "invalid_transcript"
    assert error["details"] == {"line": 3}
    assert "segment 1 needs numeric start and end" in error["message"]
    r = await upload(client, owner, meeting_id, "notes.txt", SRT.encode("utf-16"))
    assert r.status_code == 202, r.text
    assert r.json()["source_kind"] == "srt" and r.json()["segments"] == 3
    r = await client.get(f"{API}/transcriptions", params={"meeting_id": meeting_id}, headers=owner.headers)
    assert r.json()["total"] == 1


async def test_transcript_upload_stores_segments_and_no_file(client, factory, settings, resources) -> None:
    owner = await factory.user()
    _, meeting_id = await make_meeting(client, owner)
    r = await upload(client, owner, meeting_id, "meeting.vtt", VTT.encode())
    assert r.status_code == 202, r.text
    body = r.json()
    assert body["source_kind"] == "vtt" and body["segments"] == 3
    assert body["processing_status"] == "pending" and body["stage"] == "queued"
    assert body["duration_seconds"] == 3727.0
    assert await transcription_count(resources) == 1
    root = settings.data_dir.resolve() / "uploads" / meeting_id
    assert not root.exists() or not any(root.iterdir())
