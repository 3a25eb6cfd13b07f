"""GET /meetings/{id}/events (Server-Sent Events), served by a real uvicorn: the current `status` first,
then every event the worker publishes for the meeting; bearer or a short-lived `?token=` for that meeting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from core.events import publish_meeting
from tests.meetings.helpers import API, make_meeting, upload, vtt
from tests.sse import serve, sse_events


@pytest.fixture
async def served(app) -> AsyncIterator[str]:
    async with serve(app) as base_url:
        yield base_url


async def events_of(response: httpx.Response) -> AsyncIterator[tuple[str, dict[str, Any]]]:
    async for event in sse_events(response):
        yield event.event, event.data


async def next_event(stream: AsyncIterator[tuple[str, dict[str, Any]]]) -> tuple[str, dict[str, Any]]:
    return await asyncio.wait_for(anext(stream), 10)


async def test_events_stream_status_then_published_events(served, client, factory, resources) -> None:
    owner = await factory.user()
    _, meeting_id = await make_meeting(client, owner)
    r = await upload(client, owner, meeting_id, "a.vtt", vtt(("Ana", "Hola.")))
    transcription_id = r.json()["id"]

    async with (
        httpx.AsyncClient(base_url=served, timeout=10) as http,
        http.stream("GET", f"{API}/meetings/{meeting_id}/events", headers=owner.headers) as response,
    ):
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = events_of(response)
        assert await next_event(stream) == (
            "status",
            {
                "transcription_id": transcription_id,
                "status": "pending",
                "stage": "queued",
                "percent": 0,
                "error": None,
            },
        )
        await publish_meeting(
            resources.redis, meeting_id, "transcribing", transcription_id=transcription_id, percent=40
        )
        await publish_meeting(resources.redis, "some-other-meeting", "failed", reason="not ours")
        await publish_meeting(
            resources.redis, meeting_id, "failed", transcription_id=transcription_id, reason="boom"
        )
        event, data = await next_event(stream)
        assert event == "transcribing"
        assert data["percent"] == 40 and data["meeting_id"] == meeting_id and "event" not in data
        event, data = await next_event(stream)
        assert (event, data["reason"], data["transcription_id"]) == ("failed", "boom", transcription_id)


async def test_events_token_is_for_one_meeting(served, client, factory) -> None:
    owner, stranger = await factory.user(), await factory.user()
    project_id, meeting_id = await make_meeting(client, owner)
    _, other_meeting = await make_meeting(client, owner, project_id=project_id)

    r = await client.post(f"{API}/meetings/{meeting_id}/events/token", headers=owner.headers)
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    assert r.json()["expires_in"] > 0
    r = await client.post(f"{API}/meetings/{meeting_id}/events/token", headers=stranger.headers)
    assert r.status_code == 404

    async with httpx.AsyncClient(base_url=served, timeout=10) as http:
        async with http.stream(
            "GET", f"{API}/meetings/{meeting_id}/events", params={"token": token}
        ) as response:
            assert response.status_code == 200
            assert await next_event(events_of(response)) == ("status", {"status": "none"})

        r = await http.get(f"{API}/meetings/{other_meeting}/events", params={"token": token})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"
        r = await http.get(f"{API}/meetings/{meeting_id}/events", params={"token": token + "x"})
        assert r.status_code == 401
        # An access token is not an events token, and no credentials at all is 401.
        access = owner.headers["Authorization"].split()[1]
        r = await http.get(f"{API}/meetings/{meeting_id}/events", params={"token": access})
        assert r.status_code == 401
        r = await http.get(f"{API}/meetings/{meeting_id}/events")
        assert r.status_code == 401
        r = await http.get(f"{API}/meetings/{meeting_id}/events", headers=stranger.headers)
        assert r.status_code == 404
