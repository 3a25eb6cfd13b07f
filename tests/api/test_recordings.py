"""GET /meetings/{id}/recording: an uploaded recording sets the meeting's recording_url and plays from
it for members, with HTTP Range as a browser's audio player uses it; everyone else gets 404."""

from __future__ import annotations

import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from api.ranges import byte_range
from core.errors import RangeNotSatisfiable
from core.models import MemberRole, ProcessingStatus, Transcription
from tests.conftest import Actor
from tests.meetings.helpers import API, make_meeting, silence, tone, upload, vtt, write_wav


async def _recorded_meeting(
    client: httpx.AsyncClient, actor: Actor, tmp_path: Path
) -> tuple[str, str, bytes]:
    project_id, meeting_id = await make_meeting(client, actor)
    audio = write_wav(tmp_path / "reunion.wav", tone(440, 1.0)).read_bytes()
    r = await upload(client, actor, meeting_id, "reunion.wav", audio)
    assert r.status_code == 202, r.text
    return project_id, meeting_id, audio


async def test_an_uploaded_recording_sets_recording_url_and_plays_whole_or_by_range(
    client, factory, tmp_path
) -> None:
    owner = await factory.user()
    _, meeting_id, audio = await _recorded_meeting(client, owner, tmp_path)
    meeting = (await client.get(f"{API}/meetings/{meeting_id}", headers=owner.headers)).json()
    assert meeting["recording_url"] == f"{API}/meetings/{meeting_id}/recording"
    assert meeting["recording_status"] == "available"

    r = await client.get(meeting["recording_url"], headers=owner.headers)
    assert r.status_code == 200
    assert r.content == audio
    assert r.headers["content-type"] == "audio/wav"
    assert r.headers["accept-ranges"] == "bytes"
    assert int(r.headers["content-length"]) == len(audio)
    etag = r.headers["etag"]

    size = len(audio)
    for asked, first, last in (
        ("bytes=100-199", 100, 199),
        ("bytes=0-", 0, size - 1),  # what a player asks first
        (f"bytes={size - 10}-", size - 10, size - 1),
        ("bytes=-50", size - 50, size - 1),  # the last 50 bytes
        (f"bytes=1000-{size * 2}", 1000, size - 1),  # a range past the end is cut at it
        ("bytes=-999999999", 0, size - 1),
    ):
        r = await client.get(meeting["recording_url"], headers={**owner.headers, "Range": asked})
        assert r.status_code == 206, asked
        assert r.headers["content-range"] == f"bytes {first}-{last}/{size}", asked
        assert r.content == audio[first : last + 1], asked
        assert int(r.headers["content-length"]) == last - first + 1
        assert r.headers["content-type"] == "audio/wav" and r.headers["etag"] == etag

    # A range from a version the player no longer has: the whole (current) file.
    r = await client.get(
        meeting["recording_url"], headers={**owner.headers, "Range": "bytes=0-9", "If-Range": '"other"'}
    )
    assert r.status_code == 200 and r.content == audio
    r = await client.get(
        meeting["recording_url"], headers={**owner.headers, "Range": "bytes=0-9", "If-Range": etag}
    )
    assert r.status_code == 206 and r.content == audio[:10]


@pytest.mark.parametrize("asked", ["bytes={size}-", "bytes={size}-{end}", "bytes=-0"])
async def test_an_unsatisfiable_range_is_416_in_the_error_shape(
    client, factory, tmp_path, asked: str
) -> None:
    owner = await factory.user()
    _, meeting_id, audio = await _recorded_meeting(client, owner, tmp_path)
    header = asked.format(size=len(audio), end=len(audio) + 10)
    r = await client.get(f"{API}/meetings/{meeting_id}/recording", headers={**owner.headers, "Range": header})
    assert r.status_code == 416
    assert r.headers["content-range"] == f"bytes */{len(audio)}"
    assert r.json()["error"]["code"] == "range_not_satisfiable"
    assert r.json()["error"]["details"] == {"size": len(audio)}


@pytest.mark.parametrize(
    "header", ["items=0-10", "bytes=10-5", "bytes=0-1,5-9", "bytes=abc", "bytes=-", "bytes 0-10"]
)
def test_a_range_we_may_ignore_gets_the_whole_file(header: str) -> None:
    """Another unit, a malformed or reversed range, several ranges: RFC 9110 lets a server send it all."""
    assert byte_range(header, 1000) is None


def test_an_empty_file_satisfies_no_range() -> None:
    with pytest.raises(RangeNotSatisfiable):
        byte_range("bytes=0-", 0)


async def test_only_members_play_a_recording_and_a_meeting_without_one_is_404(
    client, factory, tmp_path
) -> None:
    owner, viewer, stranger = await factory.user(), await factory.user(), await factory.user()
    admin = await factory.user(is_admin=True)
    project_id, meeting_id, audio = await _recorded_meeting(client, owner, tmp_path)
    await factory.member(uuid.UUID(project_id), viewer, MemberRole.VIEWER)
    url = f"{API}/meetings/{meeting_id}/recording"
    for actor in (viewer, admin):
        r = await client.get(url, headers={**actor.headers, "Range": "bytes=0-3"})
        assert r.status_code == 206 and r.content == audio[:4]
    r = await client.get(url, headers=stranger.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    r = await client.post(f"{url}/token", headers=stranger.headers)
    assert r.status_code == 404
    r = await client.get(url)
    assert r.status_code == 401
    r = await client.get(f"{API}/meetings/{uuid.uuid4()}/recording", headers=owner.headers)
    assert r.status_code == 404

    # A transcript upload is no recording: the meeting has none to play.
    _, transcript_only = await make_meeting(client, owner, project_id=project_id)
    r = await upload(client, owner, transcript_only, "a.vtt", vtt(("Ana", "Hola.")))
    assert r.status_code == 202
    meeting = (await client.get(f"{API}/meetings/{transcript_only}", headers=owner.headers)).json()
    assert meeting["recording_url"] is None
    r = await client.get(f"{API}/meetings/{transcript_only}/recording", headers=owner.headers)
    assert r.status_code == 404 and r.json()["error"]["code"] == "no_recording"


async def test_an_audio_element_plays_it_with_a_token_for_this_recording_only(
    client, factory, settings, tmp_path
) -> None:
    owner = await factory.user()
    project_id, meeting_id, audio = await _recorded_meeting(client, owner, tmp_path)
    _, other_meeting = await make_meeting(client, owner, project_id=project_id)
    await upload(
        client, owner, other_meeting, "otra.wav", write_wav(tmp_path / "b.wav", silence(1)).read_bytes()
    )
    r = await client.post(f"{API}/meetings/{meeting_id}/recording/token", headers=owner.headers)
    assert r.status_code == 200, r.text
    link = r.json()
    assert link["url"] == f"{API}/meetings/{meeting_id}/recording?token={link['token']}"
    assert link["expires_in"] == settings.auth.access_token_ttl  # a player keeps asking while it plays

    r = await client.get(link["url"], headers={"Range": "bytes=4-7"})  # no Authorization header
    assert r.status_code == 206 and r.content == audio[4:8]
    r = await client.get(f"{API}/meetings/{other_meeting}/recording", params={"token": link["token"]})
    assert r.status_code == 401
    r = await client.get(f"{API}/events", params={"token": link["token"]})
    assert r.status_code == 401


async def test_the_newest_recording_plays_and_goes_with_its_meeting(
    client, factory, resources, tmp_path
) -> None:
    owner = await factory.user()
    _, meeting_id, first = await _recorded_meeting(client, owner, tmp_path)
    url = f"{API}/meetings/{meeting_id}/recording"
    # Let the first transcription finish (a meeting takes one upload at a time), then upload another.
    async with resources.sessionmaker() as session, session.begin():
        await session.execute(sa.update(Transcription).values(processing_status=ProcessingStatus.COMPLETED))
    second = write_wav(tmp_path / "segunda.wav", tone(220, 2.0)).read_bytes()
    r = await upload(client, owner, meeting_id, "segunda.wav", second)
    assert r.status_code == 202, r.text
    r = await client.get(url, headers=owner.headers)
    assert r.content == second != first

    r = await client.delete(f"{API}/meetings/{meeting_id}", headers=owner.headers)
    assert r.status_code == 204
    r = await client.get(url, headers=owner.headers)
    assert r.status_code == 404
