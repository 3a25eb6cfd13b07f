"""Deleting a meeting or its project removes its stored recordings; the worker's sweep removes any left."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path

import httpx

from core.settings import Settings
from core.uploads import recording_path, sweep_orphan_uploads, uploads_root
from tests.conftest import Factory, make_settings
from tests.meetings.helpers import API, make_meeting, stored_uploads, tone, upload, write_wav


async def _with_recording(client: httpx.AsyncClient, actor, tmp_path: Path, project_id: str | None = None):
    project_id, meeting_id = await make_meeting(client, actor, project_id=project_id)
    wav = write_wav(tmp_path / f"{meeting_id}.wav", tone(440, 1.0)).read_bytes()
    r = await upload(client, actor, meeting_id, "call.wav", wav)
    assert r.status_code == 202, r.text
    return project_id, meeting_id


async def test_deleting_a_meeting_removes_its_recordings(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, tmp_path: Path
) -> None:
    owner = await factory.user()
    project_id, meeting_id = await _with_recording(client, owner, tmp_path)
    _, kept_id = await _with_recording(client, owner, tmp_path, project_id=project_id)
    assert len(stored_uploads(settings, meeting_id)) == 1

    r = await client.delete(f"{API}/meetings/{meeting_id}", headers=owner.headers)
    assert r.status_code == 204
    assert not (uploads_root(settings) / meeting_id).exists()
    assert len(stored_uploads(settings, kept_id)) == 1  # the other meeting's recording stays


async def test_deleting_a_project_removes_the_recordings_of_all_its_meetings(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, tmp_path: Path
) -> None:
    owner = await factory.user()
    project_id, first = await _with_recording(client, owner, tmp_path)
    _, second = await _with_recording(client, owner, tmp_path, project_id=project_id)
    _, elsewhere = await _with_recording(client, owner, tmp_path)

    r = await client.delete(f"{API}/projects/{project_id}", headers=owner.headers)
    assert r.status_code == 204
    assert stored_uploads(settings, first) == stored_uploads(settings, second) == []
    assert len(stored_uploads(settings, elsewhere)) == 1


async def test_a_refused_deletion_keeps_the_recordings(
    client: httpx.AsyncClient, factory: Factory, settings: Settings, tmp_path: Path
) -> None:
    owner, stranger = await factory.user(), await factory.user()
    project_id, meeting_id = await _with_recording(client, owner, tmp_path)
    assert (await client.delete(f"{API}/meetings/{meeting_id}", headers=stranger.headers)).status_code == 404
    assert (await client.delete(f"{API}/projects/{project_id}", headers=stranger.headers)).status_code == 404
    assert len(stored_uploads(settings, meeting_id)) == 1


def _plant(path: Path, *, age: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF")
    stamp = time.time() - age
    os.utime(path, (stamp, stamp))
    return path


async def test_the_sweep_removes_recordings_whose_meeting_or_transcription_is_gone(
    client: httpx.AsyncClient, factory: Factory, servers, resources, tmp_path: Path
) -> None:
    owner = await factory.user()
    _, meeting_id = await make_meeting(client, owner)
    r = await upload(
        client, owner, meeting_id, "call.wav", write_wav(tmp_path / "a.wav", tone(440, 1.0)).read_bytes()
    )
    assert r.status_code == 202, r.text
    private = make_settings(servers, data_dir=tmp_path / "data")  # an uploads folder of this test only
    meeting, hour = uuid.UUID(meeting_id), 3600.0
    kept = _plant(recording_path(private, meeting, uuid.UUID(r.json()["id"])), age=2 * hour)
    failed = _plant(recording_path(private, meeting, uuid.uuid4()), age=2 * hour)  # its row never committed
    stale = _plant(recording_path(private, uuid.uuid4(), uuid.uuid4()), age=2 * hour)  # meeting deleted
    young = _plant(recording_path(private, uuid.uuid4(), uuid.uuid4()), age=60)  # an upload in flight
    other = _plant(uploads_root(private) / "not-a-meeting" / "keep.txt", age=2 * hour)

    async with resources.sessionmaker() as session:
        assert await sweep_orphan_uploads(session, private, grace_seconds=hour) == 2
    assert not stale.parent.exists()  # the whole folder of the deleted meeting
    assert not failed.exists()
    assert kept.exists() and young.exists() and other.exists()

    async with resources.sessionmaker() as session:
        assert await sweep_orphan_uploads(session, private, grace_seconds=hour) == 0


async def test_the_sweep_never_follows_symlinks_and_handles_any_uuid_spelling(
    servers, resources, tmp_path: Path
) -> None:
    private = make_settings(servers, data_dir=tmp_path / "data")
    hour = 3600.0
    outside = _plant(tmp_path / "elsewhere" / f"{uuid.uuid4()}.bin", age=2 * hour)
    uploads_root(private).mkdir(parents=True)
    (uploads_root(private) / str(uuid.uuid4())).symlink_to(outside.parent, target_is_directory=True)
    shouting = _plant(uploads_root(private) / str(uuid.uuid4()).upper() / "x.bin", age=2 * hour)

    async with resources.sessionmaker() as session:
        assert await sweep_orphan_uploads(session, private, grace_seconds=hour) == 1
    assert outside.exists()  # what the symlink points at is not ours to delete
    assert not shouting.parent.exists()
