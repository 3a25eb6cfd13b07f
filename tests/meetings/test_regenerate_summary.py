"""POST /transcriptions/{id}/regenerate-summary: 202, only the summary runs again (the transcript and its
segments stay as they are), the new prompt version is recorded, and it is a conflict while in progress."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import meetings.pipeline
from core.models import CommitmentStatus, MemberRole
from prompts.loader import TEMPLATES_DIR, PromptLibrary, default_library
from tests.meetings.helpers import (
    API,
    FailingTranscriber,
    ScriptedChat,
    commitment_rows,
    drain_meetings,
    get_transcription,
    make_meeting,
    speech_wav,
    summary_json,
    transcription_row,
    upload,
    vtt,
)


@pytest.fixture
def prompt_v2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A changed summarize_meeting prompt (version 2) in use by the worker; returns its version."""
    directory = tmp_path / "prompts"
    shutil.copytree(TEMPLATES_DIR, directory)
    path = directory / "summarize_meeting.toml"
    text = path.read_text(encoding="utf-8").replace('version = "1"', 'version = "2"')
    path.write_text(text.replace("Resumes reuniones", "Resumes con precisión reuniones"), encoding="utf-8")
    library = PromptLibrary.load(directory)
    monkeypatch.setattr(meetings.pipeline, "default_library", lambda: library)
    return library.get("summarize_meeting").version


async def test_regenerate_reruns_only_the_summary(
    servers, client, factory, settings, resources, tmp_path, prompt_v2
) -> None:
    owner = await factory.user(full_name="Ana García")
    project_id, meeting_id = await make_meeting(client, owner)
    # (Whisper base hears espeak's "Me encargo de…" as "pero no le enviaré…": no promise at all.)
    wav = await speech_wav(tmp_path / "clip.wav", "Me comprometo a enviar el presupuesto el viernes.")
    r = await upload(client, owner, meeting_id, "clip.wav", wav.read_bytes(), language="es")
    assert r.status_code == 202, r.text
    transcription_id = r.json()["id"]
    with pytest.MonkeyPatch.context() as original_prompt:
        original_prompt.setattr(meetings.pipeline, "default_library", default_library)
        await drain_meetings(settings, resources)
    before = await get_transcription(client, owner, transcription_id)
    assert before["processing_status"] == "completed", before
    assert before["prompt_version"] == default_library().get("summarize_meeting").version != prompt_v2
    assert before["summary_provider"] == "extractive"
    # (Whisper may hear "enviaré" or "miércoles" slightly differently: the task is whatever it heard.)
    (heard,) = before["commitments"]
    assert "presupuesto" in heard["task"]
    attempts = (await transcription_row(resources, transcription_id)).attempts

    # The commitment is done already; a regenerated summary must not bring it back as open.
    (commitment,) = await commitment_rows(resources)
    r = await client.patch(
        f"{API}/projects/{project_id}/commitments/{commitment.id}",
        json={"status": "done"},
        headers=owner.headers,
    )
    assert r.status_code == 200, r.text

    r = await client.post(
        f"{API}/transcriptions/{transcription_id}/regenerate-summary", headers=owner.headers
    )
    assert r.status_code == 202, r.text
    assert r.json()["processing_status"] == "processing" and r.json()["stage"] == "summarising"
    # While it runs: asking again, or uploading to the meeting, is a conflict.
    r = await client.post(
        f"{API}/transcriptions/{transcription_id}/regenerate-summary", headers=owner.headers
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "transcription_in_progress"
    r = await upload(client, owner, meeting_id, "b.vtt", vtt(("Ana", "Hola.")))
    assert r.status_code == 409

    chat = ScriptedChat(
        [
            summary_json(
                summary="Presupuesto pendiente de envío.",
                commitments=[
                    {"owner": None, "task": heard["task"], "due": "2026-11-27", "segment_ids": [0]},
                    {"owner": "Ana", "task": "confirmar la fecha con el cliente", "segment_ids": [0]},
                ],
            )
        ]
    )
    transcriber = FailingTranscriber()
    await drain_meetings(settings, resources, chat_model=chat.model(servers), transcriber=transcriber)
    # Two requests: the summary, then the commitments' own prompt (the scripted reply serves both).
    assert transcriber.calls == 0 and len(chat.requests) == 2

    after = await get_transcription(client, owner, transcription_id)
    assert after["processing_status"] == "completed" and after["error"] is None
    assert after["summary"] == "Presupuesto pendiente de envío."
    assert after["summary_provider"] == "openai-compatible"
    assert after["prompt_name"] == "summarize_meeting" and after["prompt_version"] == prompt_v2
    for unchanged in ("segments", "transcript_text", "language", "duration_seconds", "provider", "model"):
        assert after[unchanged] == before[unchanged], unchanged
    assert (await transcription_row(resources, transcription_id)).attempts == attempts + 1

    ledger = sorted((row.task, row.status, row.owner_user_id) for row in await commitment_rows(resources))
    assert ledger == [
        ("confirmar la fecha con el cliente", CommitmentStatus.OPEN, owner.id),
        (heard["task"], CommitmentStatus.DONE, None),
    ]


async def test_regenerate_needs_an_editor_a_visible_transcript_and_a_finished_one(
    client, factory, settings, resources
) -> None:
    owner, viewer, stranger = await factory.user(), await factory.user(), await factory.user()
    project_id, meeting_id = await make_meeting(client, owner)
    await factory.member(project_id, viewer, MemberRole.VIEWER)
    r = await upload(client, owner, meeting_id, "a.vtt", vtt(("Ana", "Hola a todos.")))
    transcription_id = r.json()["id"]
    url = f"{API}/transcriptions/{transcription_id}/regenerate-summary"

    r = await client.post(url, headers=owner.headers)
    assert r.status_code == 409 and r.json()["error"]["code"] == "transcription_in_progress"  # still pending
    await drain_meetings(settings, resources)
    assert (await client.post(url, headers=viewer.headers)).status_code == 403
    assert (await client.post(url, headers=stranger.headers)).status_code == 404
    missing = f"{API}/transcriptions/00000000-0000-4000-8000-000000000000/regenerate-summary"
    assert (await client.post(missing, headers=owner.headers)).status_code == 404
    row = await transcription_row(resources, transcription_id)
    assert row.stage == "indexed" and row.processing_status.value == "completed"
