"""Bad uploads through the API: each gets its status and error code, and leaves nothing behind (no row,
no file under data_dir/uploads); damaged audio that still decodes is processed without a crash."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import numpy as np
import pytest

from api.app import create_app
from core.models import MemberRole
from tests.conftest import make_settings
from tests.meetings.helpers import (
    API,
    drain_meetings,
    get_transcription,
    make_meeting,
    silence,
    stored_uploads,
    tone,
    transcription_count,
    upload,
    vtt,
    write_wav,
)

SPEECH = (
    "Buenos días a todos. Me encargo de enviar el presupuesto para el viernes. "
    "Luis va a revisar el diseño de la aplicación antes del quince de diciembre."
)


@pytest.fixture(scope="module")
def speech(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """About nine seconds of Spanish speech (espeak-ng, 22.05 kHz 16-bit WAV)."""
    espeak = shutil.which("espeak-ng")
    assert espeak, "espeak-ng is installed by scripts/system-deps.sh"
    path = tmp_path_factory.mktemp("audio") / "speech.wav"
    subprocess.run([espeak, "-v", "es", "-s", "150", "-w", str(path), SPEECH], check=True)
    return path.read_bytes()


@pytest.fixture
async def limited_client(servers, resources) -> AsyncIterator[httpx.AsyncClient]:
    """The API with tight limits: 5 s of audio, 64 KiB per upload."""
    settings = make_settings(
        servers, transcription={"max_audio_seconds": 5}, http={"max_upload_bytes": 64 * 1024}
    )
    app = create_app(settings, resources=dataclasses.replace(resources, settings=settings))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as http:
        yield http


async def assert_nothing_stored(resources, settings, meeting_id: str) -> None:
    assert await transcription_count(resources) == 0
    assert stored_uploads(settings, meeting_id) == []


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    error: dict[str, object] = response.json()["error"]
    assert error["code"] == code, error
    assert "Traceback" not in response.text
    return error


@pytest.mark.parametrize(
    ("name", "content", "status", "code"),
    [
        ("empty.mp3", b"", 422, "empty_file"),
        ("notes.mp3", b"Acta de la reunion: presupuesto, diseno y fechas.\n" * 20, 415, "unsupported_media"),
        ("header-only.wav", b"RIFF\x24\x00\x00\x00WAVE", 415, "unsupported_media"),
    ],
    ids=["empty", "text-renamed-mp3", "riff-without-format"],
)
async def test_unreadable_uploads_are_refused(
    client, factory, settings, resources, name: str, content: bytes, status: int, code: str
) -> None:
    owner = await factory.user()
    _, meeting_id = await make_meeting(client, owner)
    r = await upload(client, owner, meeting_id, name, content)
    assert_error(r, status, code)
    await assert_nothing_stored(resources, settings, meeting_id)


async def test_corrupt_audio_is_refused_or_processed_without_a_crash(
    client, factory, settings, resources, speech: bytes
) -> None:
    owner = await factory.user()
    _, meeting_id = await make_meeting(client, owner)

    # A RIFF header followed by garbage (no format chunk): nothing decodes, 415.
    garbage = speech[:12] + np.random.default_rng(8).bytes(30_000)
    r = await upload(client, owner, meeting_id, "garbage.wav", garbage)
    error = assert_error(r, 415, "unsupported_media")
    assert "not a readable audio or video file" in str(error["message"])
    # A complete WAV header with no samples: 415 as well.
    r = await upload(client, owner, meeting_id, "no-samples.wav", speech[:44])
    assert_error(r, 415, "unsupported_media")
    await assert_nothing_stored(resources, settings, meeting_id)

    # Cut in half: what is there decodes, so it is accepted and the first half is transcribed.
    r = await upload(client, owner, meeting_id, "cut.wav", speech[: len(speech) // 2])
    assert r.status_code == 202, r.text
    cut_id = r.json()["id"]
    assert r.json()["source_kind"] == "audio"
    assert 3.5 < r.json()["duration_seconds"] < 5.5
    await drain_meetings(settings, resources)
    body = await get_transcription(client, owner, cut_id)
    assert body["processing_status"] == "completed", body
    assert body["error"] is None
    assert "buenos días" in body["transcript_text"].lower()
    assert "diciembre" not in body["transcript_text"].lower()
    assert body["segments"][-1]["end"] <= 5.5

    # A valid header followed by noise: it decodes (as noise), is processed, and does not crash the job.
    noise = speech[:44] + np.random.default_rng(7).bytes(len(speech) - 44)
    r = await upload(client, owner, meeting_id, "noise.wav", noise)
    assert r.status_code == 202, r.text
    noise_id = r.json()["id"]
    await drain_meetings(settings, resources)
    body = await get_transcription(client, owner, noise_id)
    assert body["processing_status"] == "completed", body
    assert body["error"] is None and body["provider"] == "faster-whisper"
    assert {path.stem for path in stored_uploads(settings, meeting_id)} == {cut_id, noise_id}


async def test_audio_over_the_duration_limit(limited_client, factory, settings, resources, tmp_path) -> None:
    owner = await factory.user()
    _, meeting_id = await make_meeting(limited_client, owner)
    long_clip = write_wav(
        tmp_path / "long.wav", np.concatenate([tone(440, 0.5, 4000), silence(1.5, 4000)]), rate=4000
    )
    r = await upload(limited_client, owner, meeting_id, "long.wav", long_clip.read_bytes())
    assert r.status_code == 202, r.text  # two seconds: under the limit
    r = await limited_client.post(
        f"{API}/transcriptions/{r.json()['id']}/regenerate-summary", headers=owner.headers
    )
    assert r.status_code == 409  # still pending
    await drain_meetings(settings, resources)

    clip = write_wav(
        tmp_path / "six.wav", np.concatenate([tone(440, 1.0, 4000), silence(5.0, 4000)]), rate=4000
    )
    assert clip.stat().st_size < 64 * 1024
    r = await upload(limited_client, owner, meeting_id, "six.wav", clip.read_bytes())
    error = assert_error(r, 422, "audio_too_long")
    assert "6 s" in str(error["message"]) and "5 s" in str(error["message"])
    assert await transcription_count(resources) == 1  # only the accepted one
    assert len(stored_uploads(settings, meeting_id)) == 1


async def test_a_file_over_the_upload_limit(limited_client, factory, settings, resources, tmp_path) -> None:
    owner = await factory.user()
    _, meeting_id = await make_meeting(limited_client, owner)
    clip = write_wav(tmp_path / "big.wav", tone(440, 3.0))  # 96 KB
    r = await upload(limited_client, owner, meeting_id, "big.wav", clip.read_bytes())
    assert_error(r, 413, "payload_too_large")
    await assert_nothing_stored(resources, settings, meeting_id)


async def test_other_users_meeting_is_404_and_viewers_get_403(client, factory, settings, resources) -> None:
    owner, stranger, viewer = await factory.user(), await factory.user(), await factory.user()
    project_id, meeting_id = await make_meeting(client, owner)
    await factory.member(project_id, viewer, MemberRole.VIEWER)
    content = vtt(("Ana", "Hola."))
    assert_error(await upload(client, stranger, meeting_id, "a.vtt", content), 404, "not_found")
    assert_error(await upload(client, viewer, meeting_id, "a.vtt", content), 403, "forbidden")
    missing = "00000000-0000-4000-8000-000000000000"
    assert_error(await upload(client, owner, missing, "a.vtt", content), 404, "not_found")
    await assert_nothing_stored(resources, settings, meeting_id)


async def test_one_transcription_in_flight_per_meeting_and_versions(
    client, factory, settings, resources, tmp_path: Path
) -> None:
    owner = await factory.user()
    _, meeting_id = await make_meeting(client, owner)
    clip = write_wav(tmp_path / "beep.wav", np.concatenate([tone(440, 0.5), silence(0.5)])).read_bytes()

    # Two uploads at the same moment: one is accepted, the other is a conflict and leaves nothing.
    first, second = await asyncio.gather(
        upload(client, owner, meeting_id, "a.wav", clip), upload(client, owner, meeting_id, "b.wav", clip)
    )
    assert sorted([first.status_code, second.status_code]) == [202, 409], (first.text, second.text)
    accepted, refused = (first, second) if first.status_code == 202 else (second, first)
    assert_error(refused, 409, "transcription_in_progress")
    version_1 = accepted.json()["id"]
    assert [path.stem for path in stored_uploads(settings, meeting_id)] == [version_1]

    # While it is pending, any upload (audio or transcript) is a conflict.
    r = await upload(client, owner, meeting_id, "c.vtt", vtt(("Ana", "Hola.")))
    assert_error(r, 409, "transcription_in_progress")
    assert await transcription_count(resources) == 1

    # Once it is done, a new upload is a new version; the list shows both, newest first.
    await drain_meetings(settings, resources)
    assert (await get_transcription(client, owner, version_1))["processing_status"] == "completed"
    r = await upload(client, owner, meeting_id, "c.vtt", vtt(("Ana", "Versión corregida.")))
    assert r.status_code == 202, r.text
    version_2 = r.json()["id"]
    r = await client.get(f"{API}/transcriptions", params={"meeting_id": meeting_id}, headers=owner.headers)
    assert r.status_code == 200
    page = r.json()
    assert page["total"] == 2
    assert [item["id"] for item in page["items"]] == [version_2, version_1]
    assert [item["source_kind"] for item in page["items"]] == ["vtt", "audio"]
    assert [item["processing_status"] for item in page["items"]] == ["pending", "completed"]
