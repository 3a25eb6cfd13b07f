"""Meetings on Jitsi: joining (room URL, JWT, moderator by role), leaving, status moves, attendance and
duration, and the Jitsi-as-a-Service webhook (signature, idempotency, recording/transcript availability)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import pytest
import sqlalchemy as sa

from api.app import create_app
from api.resources import Resources
from core.models import Meeting, MeetingParticipant, MemberRole, WebhookEvent
from tests.api.crud_helpers import API, assert_error, make_meeting, make_project, snapshot
from tests.conftest import Actor, Factory, Servers, make_settings

APP_ID = "v1tr0-test-app"
APP_SECRET = "jitsi-app-secret-that-is-long-enough-for-hs256"
WEBHOOK_SECRET = "jaas-webhook-endpoint-secret"
JITSI = {
    "base_url": "https://meet.example.org/",
    "app_id": APP_ID,
    "app_secret": APP_SECRET,
    "webhook_secret": WEBHOOK_SECRET,
}
WEBHOOK = f"{API}/meetings/webhooks/jitsi"
TWO_HOURS = 7200


@pytest.fixture
async def jitsi(servers: Servers, resources: Resources) -> AsyncIterator[httpx.AsyncClient]:
    """An app with a Jitsi app id/secret and a webhook secret (same database and Redis as `client`)."""
    settings = make_settings(servers, jitsi=JITSI)
    own = Resources.open(settings)
    try:
        transport = httpx.ASGITransport(app=create_app(settings, resources=own))
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http
    finally:
        await own.close()


async def meeting_with_team(
    http: httpx.AsyncClient, factory: Factory, **meeting_fields: Any
) -> tuple[dict[str, Any], dict[str, Actor]]:
    """A meeting in a project with an owner, an editor and a viewer, plus a user outside the project."""
    owner = await factory.user(full_name="Olga Owner", avatar_url="https://cdn.example.org/olga.png")
    project = await make_project(http, owner)
    meeting = await make_meeting(http, owner, project["id"], **meeting_fields)
    team = {"owner": owner}
    for role in (MemberRole.EDITOR, MemberRole.VIEWER):
        team[role.value] = await factory.user(full_name=f"{role.value.title()} User")
        await factory.member(uuid.UUID(project["id"]), team[role.value], role)
    team["stranger"] = await factory.user()
    return meeting, team


async def post(http: httpx.AsyncClient, actor: Actor, meeting: dict[str, Any], action: str) -> httpx.Response:
    return await http.post(f"{API}/meetings/{meeting['id']}/{action}", headers=actor.headers)


async def join_ok(http: httpx.AsyncClient, actor: Actor, meeting: dict[str, Any]) -> dict[str, Any]:
    response = await post(http, actor, meeting, "join")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def read_meeting(http: httpx.AsyncClient, actor: Actor, meeting: dict[str, Any]) -> dict[str, Any]:
    response = await http.get(f"{API}/meetings/{meeting['id']}", headers=actor.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def participations(resources: Resources, meeting_id: str) -> list[MeetingParticipant]:
    async with resources.sessionmaker() as session:
        query = (
            sa.select(MeetingParticipant)
            .where(MeetingParticipant.meeting_id == uuid.UUID(meeting_id))
            .order_by(MeetingParticipant.joined_at)
        )
        return list((await session.scalars(query)).all())


def decode(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token,
        APP_SECRET,
        algorithms=["HS256"],
        audience="jitsi",
        issuer=APP_ID,
        options={"require": ["iss", "aud", "sub", "room", "exp", "nbf", "iat"]},
    )
    return claims


# ---------------------------------------------------------------- join


async def test_owner_joins_as_moderator_with_a_jwt_that_verifies(
    jitsi: httpx.AsyncClient, factory: Factory, resources: Resources
) -> None:
    meeting, team = await meeting_with_team(jitsi, factory)
    owner = team["owner"]
    assert meeting["status"] == "scheduled"

    joined = await join_ok(jitsi, owner, meeting)

    assert joined["room_id"] == meeting["room_id"]
    assert joined["room_url"] == f"https://meet.example.org/{meeting['room_id']}"
    assert joined["moderator"] is True
    claims = decode(joined["jwt"])
    assert claims["iss"] == APP_ID
    assert claims["aud"] == "jitsi"
    assert claims["sub"] == "meet.example.org"  # the host of base_url, as no domain is configured
    assert claims["room"] == meeting["room_id"]
    assert claims["exp"] - claims["iat"] == TWO_HOURS
    assert claims["nbf"] <= claims["iat"] < claims["exp"]
    assert claims["moderator"] is True
    assert claims["context"]["user"] == {
        "id": str(owner.id),
        "name": "Olga Owner",
        "email": owner.user.email,
        "avatar": "https://cdn.example.org/olga.png",
        "moderator": True,
    }
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(joined["jwt"], APP_SECRET + "-other", algorithms=["HS256"], audience="jitsi")

    rows = await participations(resources, meeting["id"])
    assert [(row.id, row.user_id, row.left_at) for row in rows] == [
        (uuid.UUID(joined["participant_id"]), owner.id, None)
    ]
    assert (await read_meeting(jitsi, owner, meeting))["status"] == "in-progress"


@pytest.mark.parametrize(("role", "moderator"), [("editor", True), ("viewer", False)])
async def test_members_join_with_the_moderator_flag_of_their_role(
    jitsi: httpx.AsyncClient, factory: Factory, role: str, moderator: bool
) -> None:
    meeting, team = await meeting_with_team(jitsi, factory)

    joined = await join_ok(jitsi, team[role], meeting)

    assert joined["moderator"] is moderator
    claims = decode(joined["jwt"])
    assert claims["moderator"] is moderator
    assert claims["context"]["user"]["moderator"] is moderator
    assert claims["context"]["user"]["id"] == str(team[role].id)
    assert claims["context"]["user"]["avatar"] is None


async def test_an_admin_outside_the_project_joins_as_moderator(
    jitsi: httpx.AsyncClient, factory: Factory
) -> None:
    meeting, _ = await meeting_with_team(jitsi, factory)
    admin = await factory.user(is_admin=True)

    assert (await join_ok(jitsi, admin, meeting))["moderator"] is True


async def test_a_non_member_cannot_join_or_see_the_meeting(
    jitsi: httpx.AsyncClient, factory: Factory, resources: Resources
) -> None:
    meeting, team = await meeting_with_team(jitsi, factory)
    before = await snapshot(resources)

    assert_error(await post(jitsi, team["stranger"], meeting, "join"), 404, "not_found")
    assert_error(await post(jitsi, team["stranger"], meeting, "leave"), 404, "not_found")
    missing = {"id": str(uuid.uuid4())}
    assert_error(await post(jitsi, team["owner"], missing, "join"), 404, "not_found")
    r = await jitsi.get(f"{API}/meetings/{meeting['id']}/attendance", headers=team["stranger"].headers)
    assert_error(r, 404, "not_found")
    assert await snapshot(resources) == before


async def test_without_jitsi_credentials_the_jwt_is_null(client: httpx.AsyncClient, factory: Factory) -> None:
    meeting, team = await meeting_with_team(client, factory)

    joined = await join_ok(client, team["owner"], meeting)

    assert joined["jwt"] is None
    assert joined["moderator"] is True
    assert joined["room_url"] == f"https://meet.jit.si/{meeting['room_id']}"


async def test_joining_twice_reuses_the_open_participation(
    jitsi: httpx.AsyncClient, factory: Factory, resources: Resources
) -> None:
    meeting, team = await meeting_with_team(jitsi, factory)
    first = await join_ok(jitsi, team["viewer"], meeting)
    second = await join_ok(jitsi, team["viewer"], meeting)

    assert second["participant_id"] == first["participant_id"]
    assert len(await participations(resources, meeting["id"])) == 1

    # After leaving, coming back is a new participation.
    assert (await post(jitsi, team["viewer"], meeting, "leave")).status_code == 200
    assert (await read_meeting(jitsi, team["viewer"], meeting))["status"] == "completed"
    assert_error(await post(jitsi, team["viewer"], meeting, "join"), 409, "invalid_transition")
    assert len(await participations(resources, meeting["id"])) == 1


# ---------------------------------------------------------------- leave, status, attendance, duration


async def test_the_last_leave_completes_the_meeting_with_attendance_and_duration(
    jitsi: httpx.AsyncClient, factory: Factory
) -> None:
    meeting, team = await meeting_with_team(jitsi, factory)
    owner, viewer = team["owner"], team["viewer"]
    await join_ok(jitsi, owner, meeting)
    await join_ok(jitsi, viewer, meeting)
    attendance_url = f"{API}/meetings/{meeting['id']}/attendance"

    r = await post(jitsi, owner, meeting, "leave")
    assert r.status_code == 200, r.text
    assert r.json()["meeting_status"] == "in-progress"  # the viewer is still in
    during = await read_meeting(jitsi, owner, meeting)
    assert during["status"] == "in-progress"
    assert during["end_time"] is None
    assert during["duration_seconds"] is None  # no times and not everyone has left

    r = await jitsi.get(attendance_url, headers=viewer.headers)
    assert r.status_code == 200, r.text
    rows = {row["user_id"]: row for row in r.json()}
    assert set(rows) == {str(owner.id), str(viewer.id)}
    assert rows[str(owner.id)]["full_name"] == "Olga Owner"
    assert rows[str(owner.id)]["left_at"] is not None
    assert rows[str(owner.id)]["seconds"] >= 0
    assert rows[str(viewer.id)]["left_at"] is None
    assert rows[str(viewer.id)]["seconds"] is None

    r = await post(jitsi, viewer, meeting, "leave")
    assert r.status_code == 200, r.text
    assert r.json()["meeting_status"] == "completed"
    assert_error(await post(jitsi, viewer, meeting, "leave"), 404, "not_in_meeting")

    done = await read_meeting(jitsi, owner, meeting)
    assert done["status"] == "completed"
    assert datetime.fromisoformat(done["end_time"]) == datetime.fromisoformat(r.json()["left_at"])
    attendance = (await jitsi.get(attendance_url, headers=owner.headers)).json()
    for row in attendance:
        span = datetime.fromisoformat(row["left_at"]) - datetime.fromisoformat(row["joined_at"])
        assert row["seconds"] == pytest.approx(span.total_seconds(), abs=1e-3)
    first_join = min(datetime.fromisoformat(row["joined_at"]) for row in attendance)
    last_leave = max(datetime.fromisoformat(row["left_at"]) for row in attendance)
    # No start_time: the duration runs from the first join to the last leave.
    assert done["start_time"] is None
    assert done["duration_seconds"] == pytest.approx((last_leave - first_join).total_seconds(), abs=1e-3)

    assert_error(await post(jitsi, owner, meeting, "join"), 409, "invalid_transition")
    r = await jitsi.put(
        f"{API}/meetings/{meeting['id']}", json={"status": "in-progress"}, headers=owner.headers
    )
    assert_error(r, 409, "invalid_transition")


async def test_duration_comes_from_start_and_end_times_when_both_are_set(
    jitsi: httpx.AsyncClient, factory: Factory
) -> None:
    meeting, team = await meeting_with_team(
        jitsi, factory, start_time="2020-03-02T10:00:00+00:00", end_time="2020-03-02T11:30:00+00:00"
    )
    assert meeting["duration_seconds"] == 5400

    await join_ok(jitsi, team["editor"], meeting)
    assert (await post(jitsi, team["editor"], meeting, "leave")).status_code == 200

    done = await read_meeting(jitsi, team["owner"], meeting)
    assert done["status"] == "completed"
    assert datetime.fromisoformat(done["end_time"]) == datetime(2020, 3, 2, 11, 30, tzinfo=UTC)  # kept
    assert done["duration_seconds"] == 5400

    r = await jitsi.put(
        f"{API}/meetings/{meeting['id']}",
        json={"end_time": "2020-03-02T10:45:00+00:00"},
        headers=team["owner"].headers,
    )
    assert r.status_code == 200, r.text
    assert r.json()["duration_seconds"] == 2700


async def test_a_meeting_scheduled_ahead_completes_without_an_end_before_its_start(
    jitsi: httpx.AsyncClient, factory: Factory
) -> None:
    meeting, team = await meeting_with_team(jitsi, factory, start_time="2999-01-01T10:00:00+00:00")
    await join_ok(jitsi, team["owner"], meeting)
    assert (await post(jitsi, team["owner"], meeting, "leave")).status_code == 200

    done = await read_meeting(jitsi, team["owner"], meeting)
    assert done["status"] == "completed"
    assert done["end_time"] is None
    assert done["duration_seconds"] is not None  # from the join to the leave


async def test_leaving_without_having_joined_is_not_found(
    jitsi: httpx.AsyncClient, factory: Factory, resources: Resources
) -> None:
    meeting, team = await meeting_with_team(jitsi, factory)
    await join_ok(jitsi, team["owner"], meeting)
    before = await snapshot(resources)

    assert_error(await post(jitsi, team["viewer"], meeting, "leave"), 404, "not_in_meeting")
    assert await snapshot(resources) == before


@pytest.mark.parametrize("final", ["completed", "cancelled"])
async def test_a_finished_meeting_cannot_be_joined(
    jitsi: httpx.AsyncClient, factory: Factory, resources: Resources, final: str
) -> None:
    meeting, team = await meeting_with_team(jitsi, factory)
    r = await jitsi.put(
        f"{API}/meetings/{meeting['id']}", json={"status": final}, headers=team["owner"].headers
    )
    assert r.status_code == 200, r.text

    assert_error(await post(jitsi, team["viewer"], meeting, "join"), 409, "invalid_transition")
    assert await participations(resources, meeting["id"]) == []
    assert (await read_meeting(jitsi, team["owner"], meeting))["status"] == final


async def test_status_never_moves_back_once_in_progress(jitsi: httpx.AsyncClient, factory: Factory) -> None:
    meeting, team = await meeting_with_team(jitsi, factory)
    await join_ok(jitsi, team["viewer"], meeting)

    r = await jitsi.put(
        f"{API}/meetings/{meeting['id']}", json={"status": "scheduled"}, headers=team["owner"].headers
    )
    assert_error(r, 409, "invalid_transition")
    assert (await read_meeting(jitsi, team["owner"], meeting))["status"] == "in-progress"


# ---------------------------------------------------------------- webhook


def sign(body: bytes, *, at: int | None = None, secret: str = WEBHOOK_SECRET, encoding: str = "hex") -> str:
    timestamp = int(datetime.now(UTC).timestamp()) if at is None else at
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).digest()
    value = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    return f"t={timestamp},v1={value}"


def jaas_event(event_type: str, room: str, *, event_id: str | None = None, link: str | None = None) -> bytes:
    """A Jitsi-as-a-Service event as JaaS sends it (fqn is "<app id>/<room>")."""
    event = {
        "idempotencyKey": event_id or str(uuid.uuid4()),
        "customerId": "c0ffee",
        "appId": "vpaas-magic-cookie-abc",
        "eventType": event_type,
        "sessionId": str(uuid.uuid4()),
        "timestamp": 1732560000000,
        "fqn": f"vpaas-magic-cookie-abc/{room}",
        "data": {"preAuthenticatedLink": link or f"https://files.example.org/{room}.mp4"},
    }
    return json.dumps(event).encode()


async def deliver(http: httpx.AsyncClient, body: bytes, signature: str | None) -> httpx.Response:
    headers = {"Content-Type": "application/json"}
    if signature is not None:
        headers["X-Jaas-Signature"] = signature
    return await http.post(WEBHOOK, content=body, headers=headers)


async def stored_meeting(resources: Resources, meeting_id: str) -> Meeting:
    async with resources.sessionmaker() as session:
        meeting = await session.get(Meeting, uuid.UUID(meeting_id))
        assert meeting is not None
        return meeting


async def test_a_signed_recording_event_marks_the_recording_available(
    jitsi: httpx.AsyncClient, factory: Factory, resources: Resources
) -> None:
    meeting, team = await meeting_with_team(jitsi, factory)
    link = "https://files.example.org/rec/kickoff.mp4?sig=abc"
    body = jaas_event("RECORDING_UPLOADED", meeting["room_id"], event_id="evt-rec-1", link=link)

    r = await deliver(jitsi, body, sign(body))

    assert r.status_code == 200, r.text
    assert r.json() == {"status": "processed"}
    seen = await read_meeting(jitsi, team["viewer"], meeting)
    assert seen["recording_status"] == "available"
    assert seen["recording_url"] == link
    assert seen["transcript_status"] is None
    async with resources.sessionmaker() as session:
        events = (await session.scalars(sa.select(WebhookEvent))).all()
    assert [(e.provider, e.event_id, e.event_type) for e in events] == [
        ("jitsi", "evt-rec-1", "RECORDING_UPLOADED")
    ]


async def test_a_transcription_event_signed_in_base64_marks_the_transcript_available(
    jitsi: httpx.AsyncClient, factory: Factory, resources: Resources
) -> None:
    meeting, _ = await meeting_with_team(jitsi, factory)
    link = "https://files.example.org/transcripts/kickoff.txt"
    body = jaas_event("TRANSCRIPTION_UPLOADED", meeting["room_id"], link=link)

    r = await deliver(jitsi, body, sign(body, encoding="base64"))

    assert r.status_code == 200, r.text
    assert r.json() == {"status": "processed"}
    stored = await stored_meeting(resources, meeting["id"])
    assert (stored.transcript_status, stored.transcript_url) == ("available", link)
    assert stored.recording_status is None


async def test_a_replayed_event_is_acknowledged_and_changes_nothing(
    jitsi: httpx.AsyncClient, factory: Factory, resources: Resources
) -> None:
    meeting, _ = await meeting_with_team(jitsi, factory)
    first = jaas_event("RECORDING_UPLOADED", meeting["room_id"], event_id="evt-1", link="https://a.example/1")
    assert (await deliver(jitsi, first, sign(first))).json() == {"status": "processed"}
    before = await snapshot(resources)

    # The same event id again, even with another link and a fresh signature: applied once.
    replay = jaas_event(
        "RECORDING_UPLOADED", meeting["room_id"], event_id="evt-1", link="https://a.example/2"
    )
    r = await deliver(jitsi, replay, sign(replay))

    assert r.status_code == 200, r.text
    assert r.json() == {"status": "duplicate"}
    assert await snapshot(resources) == before
    assert (await stored_meeting(resources, meeting["id"])).recording_url == "https://a.example/1"


async def test_events_for_unknown_rooms_or_of_other_types_are_ignored(
    jitsi: httpx.AsyncClient, factory: Factory, resources: Resources
) -> None:
    meeting, _ = await meeting_with_team(jitsi, factory)
    unknown_room = jaas_event("RECORDING_UPLOADED", "v1tr0-no-such-room")
    other_type = jaas_event("PARTICIPANT_JOINED", meeting["room_id"])

    for body in (unknown_room, other_type):
        r = await deliver(jitsi, body, sign(body))
        assert r.status_code == 200, r.text
        assert r.json() == {"status": "ignored"}

    stored = await stored_meeting(resources, meeting["id"])
    assert (stored.recording_status, stored.recording_url) == (None, None)


def _stale(body: bytes) -> str:
    return sign(body, at=int(datetime.now(UTC).timestamp()) - 3600)


@pytest.mark.parametrize(
    "signature",
    [
        pytest.param(lambda body: None, id="absent"),
        pytest.param(lambda body: sign(body, secret="not-the-secret"), id="wrong-secret"),
        pytest.param(lambda body: sign(body + b" "), id="other-body"),
        pytest.param(_stale, id="old-timestamp"),
        pytest.param(lambda body: sign(body).replace("v1=", "v0="), id="other-scheme"),
        pytest.param(lambda body: "v1=" + sign(body).split("v1=")[1], id="no-timestamp"),
        pytest.param(lambda body: sign(body).split(",")[0] + ",v1=zz-not-a-signature", id="garbage"),
    ],
)
async def test_a_webhook_without_a_valid_signature_is_rejected(
    jitsi: httpx.AsyncClient, factory: Factory, resources: Resources, signature: Any
) -> None:
    meeting, _ = await meeting_with_team(jitsi, factory)
    body = jaas_event("RECORDING_UPLOADED", meeting["room_id"])
    before = await snapshot(resources)

    assert_error(await deliver(jitsi, body, signature(body)), 401, "unauthorized")
    assert await snapshot(resources) == before


async def test_webhooks_are_rejected_when_no_secret_is_configured(
    client: httpx.AsyncClient, factory: Factory, resources: Resources
) -> None:
    meeting, _ = await meeting_with_team(client, factory)
    body = jaas_event("RECORDING_UPLOADED", meeting["room_id"])
    before = await snapshot(resources)

    assert_error(await deliver(client, body, sign(body)), 401, "unauthorized")
    assert await snapshot(resources) == before


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"idempotencyKey": "evt-1", "eventType": ', "malformed_json"),
        (b"[1, 2, 3]", "malformed_json"),
        (b'{"eventType": "RECORDING_UPLOADED", "fqn": "app/room"}', "invalid_event"),
    ],
)
async def test_a_signed_but_malformed_event_is_a_400(
    jitsi: httpx.AsyncClient, resources: Resources, body: bytes, code: str
) -> None:
    before = await snapshot(resources)

    assert_error(await deliver(jitsi, body, sign(body)), 400, code)
    assert await snapshot(resources) == before
