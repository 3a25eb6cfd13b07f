"""Upload -> transcript -> summary -> ledger -> index, through the API and a real worker."""

from __future__ import annotations

from pathlib import Path

from tests.ingestion.helpers import chunk_rows, drain
from tests.meetings.helpers import speech_wav

VTT = """WEBVTT

00:00:01.000 --> 00:00:05.000
<v Ana>Buenos días a todos. Me encargo de enviar el presupuesto para el viernes.</v>

00:00:05.000 --> 00:00:09.000
<v Luis>Decidimos usar React Native para la aplicación móvil.</v>

00:00:09.000 --> 00:00:14.000
<v Marta>El siguiente paso es preparar el prototipo con el cliente.</v>
"""


async def _meeting(client, actor):
    r = await client.post("/api/v1/projects", json={"title": "App"}, headers=actor.headers)
    project_id = r.json()["id"]
    r = await client.post(
        "/api/v1/meetings",
        json={"project_id": project_id, "title": "Kickoff", "start_time": "2026-11-25T10:00:00+01:00"},
        headers=actor.headers,
    )
    return project_id, r.json()["id"]


async def test_vtt_upload_is_summarised_ledgered_and_indexed(client, factory, settings, resources):
    owner = await factory.user(full_name="Ana García")
    project_id, meeting_id = await _meeting(client, owner)
    r = await client.post(
        f"/api/v1/transcriptions/upload/{meeting_id}",
        files={"file": ("kickoff.vtt", VTT.encode(), "text/vtt")},
        headers=owner.headers,
    )
    assert r.status_code == 202, r.text
    transcription_id = r.json()["id"]
    assert r.json()["source_kind"] == "vtt" and r.json()["segments"] == 3
    await drain(settings, resources)
    await drain(settings, resources)

    r = await client.get(f"/api/v1/transcriptions/{transcription_id}", headers=owner.headers)
    body = r.json()
    assert body["processing_status"] == "completed", body
    assert body["stage"] == "indexed"
    assert body["commitments"][0]["owner"] == "Ana" and body["commitments"][0]["due"] == "2026-11-27"
    assert "React Native" in body["decisions"][0]["text"]
    assert body["prompt_name"] == "summarize_meeting" and body["prompt_version"]

    r = await client.get(f"/api/v1/projects/{project_id}/commitments", headers=owner.headers)
    ledger = r.json()["items"]
    assert ledger[0]["task"] == "enviar el presupuesto" and ledger[0]["owner_user_id"] == str(owner.id)

    chunks = await chunk_rows(resources, source_type="transcript")
    assert chunks and chunks[0].meta["meeting_id"] == meeting_id and chunks[0].meta["start"] == 1.0


async def test_bad_uploads(client, factory, settings, resources):
    owner = await factory.user()
    _, meeting_id = await _meeting(client, owner)
    url = f"/api/v1/transcriptions/upload/{meeting_id}"
    r = await client.post(url, files={"file": ("empty.mp3", b"", "audio/mpeg")}, headers=owner.headers)
    assert r.status_code == 422 and r.json()["error"]["code"] == "empty_file"
    r = await client.post(
        url, files={"file": ("notes.mp3", b"just some text, not audio", "audio/mpeg")}, headers=owner.headers
    )
    assert r.status_code == 415
    bad_vtt = VTT.replace("00:00:05.000 --> 00:00:09.000", "00:00:05.000 --> 00:0X:09.000")
    r = await client.post(url, files={"file": ("a.vtt", bad_vtt.encode(), "text/vtt")}, headers=owner.headers)
    assert r.status_code == 422 and r.json()["error"]["details"]["line"] == 6
    r = await client.get("/api/v1/transcriptions", params={"meeting_id": meeting_id}, headers=owner.headers)
    assert r.json()["total"] == 0


async def test_spoken_audio_is_transcribed_locally(client, factory, settings, resources, tmp_path: Path):
    wav = await speech_wav(
        tmp_path / "clip.wav", "Me encargo de enviar el presupuesto el viernes.", words_per_minute=140
    )
    owner = await factory.user()
    _, meeting_id = await _meeting(client, owner)
    r = await client.post(
        f"/api/v1/transcriptions/upload/{meeting_id}",
        files={"file": ("grabacion.bin", wav.read_bytes(), "application/octet-stream")},
        headers=owner.headers,
    )
    assert r.status_code == 202, r.text
    assert r.json()["source_kind"] == "audio"
    await drain(settings, resources)
    r = await client.get(f"/api/v1/transcriptions/{r.json()['id']}", headers=owner.headers)
    body = r.json()
    assert body["processing_status"] == "completed", body
    assert body["provider"] == "faster-whisper" and body["language"] == "es"
    assert "presupuesto" in body["transcript_text"].lower()
