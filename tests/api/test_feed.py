"""The event feed (GET /events, GET /projects/{id}/events) served by a real uvicorn: every kind of event
arrives from the code that produces it, each reader gets exactly the projects they may see (also after
losing one mid-stream), and a reconnect with Last-Event-ID resumes after the last event received.

An event that must not arrive is checked with a marker: an event published after it in a project the
reader does see. Events are delivered in id order, so once the marker is there, the other would have
been too."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.exceptions
import sqlalchemy as sa

from api.services import feed as feed_service
from core import feed, keys
from core.feed import FeedEvent
from core.models import Commitment, CommitmentStatus, MemberRole, Outbox, Project, User
from core.providers.embeddings import STATIC_MODEL
from core.providers.stt import TranscriptResult
from ingestion.jobs import Runtime
from meetings.jobs import plugin as meetings_plugin
from meetings.reminders import announce_due_commitments
from tests.api.test_reads_do_not_write import NEEDS_A_TRANSACTION
from tests.api.test_round_trips import statements
from tests.conftest import Actor, make_settings
from tests.ingestion.helpers import FailingEmbedder, drain, new_chat_turn, new_document, new_project
from tests.meetings.helpers import (
    API,
    FailingTranscriber,
    drain_meetings,
    make_meeting,
    silence,
    upload,
    vtt,
    write_wav,
)
from tests.sse import Event, next_event, serve, sse_events

COMMITMENT_VTT = vtt(
    ("Ana García", "Buenos días. Me encargo de enviar el presupuesto mañana."),
    ("Luis Pérez", "De acuerdo."),
)


@pytest.fixture
async def served(app) -> AsyncIterator[str]:
    async with serve(app) as base_url:
        yield base_url


class Feed:
    """An open feed: the `ready` event, then events read on demand (all kept in `seen`)."""

    def __init__(self, events: AsyncIterator[Event], ready: Event) -> None:
        self.events = events
        self.ready = ready
        self.seen: list[Event] = []

    async def next(self) -> Event:
        event = await next_event(self.events, within=20)
        self.seen.append(event)
        return event

    async def until(self, kind: str, **match: Any) -> Event:
        """The next event of `kind` whose data has these items (others are read past, kept in `seen`)."""
        while True:
            event = await self.next()
            if event.event == kind and all(event.data.get(k) == v for k, v in match.items()):
                return event


@contextlib.asynccontextmanager
async def following(
    base_url: str, path: str = "/events", *, actor: Actor | None = None, **request: Any
) -> AsyncIterator[Feed]:
    headers = {**(actor.headers if actor else {}), **request.pop("headers", {})}
    async with (
        httpx.AsyncClient(base_url=base_url, timeout=20) as http,
        http.stream("GET", f"{API}{path}", headers=headers, **request) as response,
    ):
        assert response.status_code == 200, (await response.aread()).decode()
        assert response.headers["content-type"].startswith("text/event-stream")
        events = sse_events(response)
        ready = await next_event(events)
        assert ready.event == "ready" and ready.id
        yield Feed(events, ready)


async def marker(resources, project_id: str) -> str:
    """An event in a project the reader sees; returns its id."""
    return await feed.append(resources.redis, project_id, FeedEvent.INDEX_INDEXED, marker=True)


async def commitment(resources, project_id: str, *, task: str, due: date | None) -> Commitment:
    async with resources.sessionmaker() as session, session.begin():
        row = Commitment(project_id=uuid.UUID(project_id), task=task, owner_name="Ana", due_date=due)
        session.add(row)
    return row


class ScriptedTranscriber:
    """Reports progress, then returns fixed segments (a local Whisper would take seconds)."""

    provider, model = "scripted", "none"

    async def transcribe(self, path: Path, *, language: str | None, progress: Callable[[float], None]) -> Any:
        progress(0.5)
        progress(1.0)
        segments = [{"start": 0.0, "end": 2.0, "text": "Me encargo de enviar el presupuesto mañana."}]
        return TranscriptResult(segments, "es", 2.0, None, self.provider, self.model)


async def recording(tmp_path: Path) -> bytes:
    return write_wav(tmp_path / "a.wav", silence(1.0)).read_bytes()


# --- one test per kind of event ----------------------------------------------------------------------


async def test_index_indexed_announces_each_indexed_change_but_no_chat_turn(
    served, client, factory, settings, resources
) -> None:
    owner = await factory.user()
    project_id = await new_project(client, owner, description="Web de Acme.")
    async with following(served, actor=owner) as events:
        await new_chat_turn(resources, project_id, owner.id)
        await drain(settings, resources)  # the project's description and the chat turn
        document_id = await new_document(client, owner, project_id, "# Alcance\n\nTres secciones.")
        await drain(settings, resources)
        indexed = await events.until("index.indexed", source_id=document_id)
    assert indexed.data["project_id"] == project_id
    assert (indexed.data["source_type"], indexed.data["action"]) == ("document", "upsert")
    assert indexed.data["chunks"] >= 1 and indexed.data["embedded"] >= 1 and indexed.data["outbox_id"]
    kinds = [(e.event, e.data.get("source_type")) for e in events.seen]
    assert ("index.indexed", "project") in kinds
    assert ("index.indexed", "chat") not in kinds  # a chat turn is its author's alone


async def test_index_retrying_then_index_failed(servers, served, client, factory, resources) -> None:
    owner = await factory.user()
    project_id = await new_project(client, owner, description="Web de Acme.")
    failing = FailingEmbedder()
    async with following(served, actor=owner) as events:
        patient = make_settings(servers, ingestion={"retry_backoff": 60, "max_attempts": 2})
        await drain(patient, resources, embedders={STATIC_MODEL: failing})
        retrying = await events.until("index.retrying")
        async with resources.sessionmaker() as session, session.begin():
            await session.execute(sa.update(Outbox).values(available_at=sa.func.now()))
        await drain(patient, resources, embedders={STATIC_MODEL: failing})
        failed = await events.until("index.failed")
    for event, attempts in ((retrying, 1), (failed, 2)):
        assert event.data["project_id"] == project_id and event.data["attempts"] == attempts
        assert event.data["error"] == f"ProviderUnavailable: {FailingEmbedder.error}"
        assert event.data["outbox_id"] == retrying.data["outbox_id"]


async def test_transcription_queued_when_an_upload_or_a_new_summary_is_accepted(
    served, client, factory, settings, resources
) -> None:
    owner = await factory.user()
    project_id, meeting_id = await make_meeting(client, owner)
    async with following(served, actor=owner) as events:
        r = await upload(client, owner, meeting_id, "a.vtt", COMMITMENT_VTT)
        transcription_id = r.json()["id"]
        queued = await events.until("transcription.queued")
        await drain_meetings(settings, resources)
        r = await client.post(
            f"{API}/transcriptions/{transcription_id}/regenerate-summary", headers=owner.headers
        )
        assert r.status_code == 202, r.text
        again = await events.until("transcription.queued")
    assert queued.data == {
        "project_id": project_id,
        "ts": queued.data["ts"],
        "meeting_id": meeting_id,
        "transcription_id": transcription_id,
        "source_kind": "vtt",
    }
    assert again.data["transcription_id"] == transcription_id


async def test_transcription_transcribing_reports_progress(
    served, client, factory, settings, resources, tmp_path
) -> None:
    owner = await factory.user()
    project_id, meeting_id = await make_meeting(client, owner)
    async with following(served, actor=owner) as events:
        r = await upload(client, owner, meeting_id, "a.wav", await recording(tmp_path))
        assert r.status_code == 202, r.text
        await drain_meetings(settings, resources, transcriber=ScriptedTranscriber())
        percents = [(await events.until("transcription.transcribing")).data["percent"] for _ in range(3)]
    assert percents == [0, 50, 100]
    assert {e.data["meeting_id"] for e in events.seen if e.event.startswith("transcription.")} == {meeting_id}
    assert {e.data["project_id"] for e in events.seen} == {project_id}


async def test_transcription_summarising_then_summary_ready_then_transcription_indexed(
    served, client, factory, settings, resources
) -> None:
    owner = await factory.user(full_name="Ana García")
    _, meeting_id = await make_meeting(client, owner)
    async with following(served, actor=owner) as events:
        r = await upload(client, owner, meeting_id, "a.vtt", COMMITMENT_VTT)
        transcription_id = r.json()["id"]
        await drain_meetings(settings, resources)
        summarising = await events.until("transcription.summarising")
        ready = await events.until("summary.ready")
        indexed = await events.until("transcription.indexed")
    assert summarising.data["transcription_id"] == transcription_id
    assert (ready.data["transcription_id"], ready.data["meeting_id"]) == (transcription_id, meeting_id)
    assert (ready.data["commitments"], ready.data["closed"]) == (1, 0)
    assert indexed.data["meeting_id"] == meeting_id and indexed.data["chunks"] >= 1


async def test_transcription_failed_with_the_reason(
    served, client, factory, settings, resources, tmp_path
) -> None:
    owner = await factory.user()
    _, meeting_id = await make_meeting(client, owner)
    async with following(served, actor=owner) as events:
        await upload(client, owner, meeting_id, "a.wav", await recording(tmp_path))
        await drain_meetings(settings, resources, transcriber=FailingTranscriber())
        failed = await events.until("transcription.failed")
    assert failed.data["meeting_id"] == meeting_id
    assert "the transcriber was called" in failed.data["reason"]


async def test_commitment_created_for_each_commitment_a_summary_adds(
    served, client, factory, settings, resources
) -> None:
    ana = await factory.user(full_name="Ana García")
    _, meeting_id = await make_meeting(client, ana)
    async with following(served, actor=ana) as events:
        await upload(client, ana, meeting_id, "a.vtt", COMMITMENT_VTT)
        await drain_meetings(settings, resources)
        created = await events.until("commitment.created")
    row = (await commitment_rows_of(resources))[0]
    assert created.data["commitment_id"] == str(row.id)
    assert (created.data["task"], created.data["owner_name"]) == ("enviar el presupuesto", "Ana García")
    assert (created.data["owner_user_id"], created.data["meeting_id"]) == (str(ana.id), meeting_id)
    assert created.data["due_date"] == str(row.due_date) and created.data["status"] == "open"


async def commitment_rows_of(resources) -> list[Commitment]:
    async with resources.sessionmaker() as session:
        return list((await session.scalars(sa.select(Commitment))).all())


async def test_commitment_closed_by_a_later_meeting_or_by_a_member_and_reopened(
    served, client, factory, settings, resources
) -> None:
    ana = await factory.user(full_name="Ana García")
    project_id, first = await make_meeting(client, ana)
    await upload(client, ana, first, "a.vtt", COMMITMENT_VTT)
    await drain_meetings(settings, resources)
    budget = (await commitment_rows_of(resources))[0]
    extra = await commitment(resources, project_id, task="preparar el acta", due=None)
    async with following(served, actor=ana) as events:
        _, second = await make_meeting(client, ana, project_id=project_id)
        await upload(client, ana, second, "b.vtt", vtt(("Ana García", "Ya envié el presupuesto al cliente.")))
        await drain_meetings(settings, resources)
        by_meeting = await events.until("commitment.closed")
        url = f"{API}/projects/{project_id}/commitments/{extra.id}"
        r = await client.patch(url, json={"status": "dropped"}, headers=ana.headers)
        assert r.status_code == 200, r.text
        by_member = await events.until("commitment.closed")
        r = await client.patch(url, json={"status": "open"}, headers=ana.headers)
        reopened = await events.until("commitment.reopened")
        r = await client.patch(url, json={"status": "open"}, headers=ana.headers)  # no change: no event
        mark = await marker(resources, project_id)
        await events.until("index.indexed", marker=True)
    assert (by_meeting.data["commitment_id"], by_meeting.data["status"]) == (str(budget.id), "done")
    assert (by_member.data["commitment_id"], by_member.data["status"]) == (str(extra.id), "dropped")
    assert by_member.data["by"] == str(ana.id)
    assert (reopened.data["commitment_id"], reopened.data["status"]) == (str(extra.id), "open")
    assert [e.id for e in events.seen if e.event == "commitment.reopened"] == [reopened.id]
    assert events.seen[-1].id == mark


async def test_commitment_moved_by_a_later_meeting_is_announced_with_its_old_date(
    served, client, factory, settings, resources
) -> None:
    ana = await factory.user(full_name="Ana García")
    project_id, first = await make_meeting(client, ana)
    said = "Me encargo de enviar el presupuesto del hosting mañana."
    await upload(client, ana, first, "a.vtt", vtt(("Ana García", said)))
    await drain_meetings(settings, resources)
    (budget,) = await commitment_rows_of(resources)
    async with resources.sessionmaker() as session, session.begin():
        row = await session.get(Commitment, budget.id)
        assert row is not None
        row.due_soon_announced_at = row.overdue_announced_at = datetime.now(UTC)
    async with following(served, actor=ana) as events:
        _, second = await make_meeting(client, ana, project_id=project_id)
        said = "El presupuesto del hosting lo pasamos al 10 de enero de 2099."
        await upload(client, ana, second, "b.vtt", vtt(("Ana García", said)))
        await drain_meetings(settings, resources)
        ready = await events.until("summary.ready")
        moved = await events.until("commitment.moved")
    assert (moved.data["commitment_id"], moved.data["status"]) == (str(budget.id), "open")
    assert moved.data["due_date"] == "2099-01-10" and moved.data["moved_from"] == str(budget.due_date)
    assert (ready.data["closed"], ready.data["moved"]) == (0, 1)
    # The new date is announced falling due and overdue again, when it comes.
    (row,) = await commitment_rows_of(resources)
    assert row.due_soon_announced_at is None and row.overdue_announced_at is None


@pytest.mark.parametrize(
    ("kind", "due", "announced"),
    [
        ("commitment.due_soon", 0, True),  # due today
        ("commitment.due_soon", 2, True),  # the default: two days ahead
        ("commitment.due_soon", 3, False),
        ("commitment.overdue", -1, True),
    ],
)
async def test_commitment_due_soon_and_overdue_are_announced_once(
    served, client, factory, settings, resources, kind: str, due: int, announced: bool
) -> None:
    owner = await factory.user()
    project_id = await new_project(client, owner)
    today = datetime.now(UTC).date()  # the test database runs in UTC
    row = await commitment(
        resources, project_id, task="enviar el presupuesto", due=today + timedelta(days=due)
    )
    done = await commitment(resources, project_id, task="ya hecho", due=today - timedelta(days=3))
    async with resources.sessionmaker() as session, session.begin():
        await session.execute(
            sa.update(Commitment).where(Commitment.id == done.id).values(status=CommitmentStatus.DONE)
        )
    async with following(served, actor=owner) as events:
        assert settings.feed.due_soon_days == 2
        sweep = meetings_plugin().sweep
        assert sweep is not None
        ctx = {"runtime": Runtime(settings, resources.sessionmaker, resources.redis)}
        await sweep(ctx)
        await sweep(ctx)  # within a minute: the reminders are not swept again
        assert await announce_due_commitments(resources.sessionmaker, resources.redis, due_soon_days=2) == 0
        await marker(resources, project_id)
        await events.until("index.indexed", marker=True)
    found = [e for e in events.seen if e.event.startswith("commitment.")]
    if announced:
        assert [(e.event, e.data["commitment_id"]) for e in found] == [(kind, str(row.id))]
        assert found[0].data["due_date"] == str(today + timedelta(days=due))
    else:
        assert found == []


async def test_insights_refreshed_when_insights_are_computed_not_when_cached(
    served, client, factory, settings, resources
) -> None:
    owner = await factory.user()
    project_id = await new_project(client, owner, description="Web de Acme.")
    await drain(settings, resources)
    async with following(served, actor=owner) as events:
        r = await client.get(f"{API}/ai/insights/{project_id}", headers=owner.headers)
        assert r.status_code == 200 and r.json()["cached"] is False
        refreshed = await events.until("insights.refreshed")
        r = await client.get(f"{API}/ai/insights/{project_id}", headers=owner.headers)
        assert r.json()["cached"] is True
        await marker(resources, project_id)
        await events.until("index.indexed", marker=True)
    assert refreshed.data["health"] == r.json()["health"]["status"]
    assert (refreshed.data["provider"], refreshed.data["model"]) == (r.json()["provider"], r.json()["model"])
    assert [e.event for e in events.seen].count("insights.refreshed") == 1


async def test_document_converted_when_an_uploaded_file_is_stored(served, client, factory) -> None:
    owner = await factory.user()
    project_id = await new_project(client, owner)
    async with following(served, actor=owner) as events:
        r = await client.post(
            f"{API}/projects/{project_id}/documents/upload",
            files={"file": ("acta.md", "# Acta\n\nSe aprobó el diseño.".encode(), "text/markdown")},
            headers=owner.headers,
        )
        assert r.status_code == 201, r.text
        converted = await events.until("document.converted")
    assert converted.data["document_id"] == r.json()["id"]
    assert (converted.data["title"], converted.data["mime_type"]) == ("acta.md", "text/markdown")
    assert converted.data["source_filename"] == "acta.md" and converted.data["size"] == r.json()["size"]


def test_every_kind_of_event_has_a_test_here() -> None:
    """Guard: a new kind of event gets its test in this module (the tests above name the kind they wait
    for, quoted)."""
    source = Path(__file__).read_text(encoding="utf-8")
    assert [kind.value for kind in FeedEvent if f'"{kind.value}"' not in source] == []


# --- scope: exactly the projects the reader may see ------------------------------------------------


async def test_each_reader_gets_only_the_projects_they_may_see(served, client, factory, resources) -> None:
    ana, luis = await factory.user(), await factory.user()
    admin = await factory.user(is_admin=True)
    shared = await new_project(client, ana, title="Compartido")
    await factory.member(uuid.UUID(shared), luis, MemberRole.VIEWER)
    anas_own = await new_project(client, ana, title="Solo Ana")
    async with resources.sessionmaker() as session, session.begin():
        evals = Project(title="Corpus", is_eval=True)
        session.add(evals)
    async with (
        following(served, actor=ana) as for_ana,
        following(served, actor=luis) as for_luis,
        following(served, actor=admin) as for_admin,
        following(served, f"/projects/{shared}/events", actor=luis) as luis_on_shared,
    ):
        mine = await feed.append(resources.redis, anas_own, FeedEvent.INDEX_INDEXED)
        await feed.append(resources.redis, evals.id, FeedEvent.INDEX_INDEXED)  # an eval corpus: nobody's
        last = await marker(resources, shared)
        for reader in (for_ana, for_luis, for_admin, luis_on_shared):
            await reader.until("index.indexed", marker=True)
    assert [e.id for e in for_ana.seen] == [mine, last]
    assert [e.id for e in for_admin.seen] == [mine, last]
    assert [e.id for e in for_luis.seen] == [last]
    assert [e.id for e in luis_on_shared.seen] == [last]

    r = await client.post(f"{API}/projects/{anas_own}/events/token", headers=luis.headers)
    assert r.status_code == 404
    async with httpx.AsyncClient(base_url=served, timeout=10) as http:
        r = await http.get(f"{API}/projects/{anas_own}/events", headers=luis.headers)
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
        r = await http.get(f"{API}/events")
        assert r.status_code == 401


@pytest.mark.parametrize("reads", ["project streams", "the stream of all projects"])
async def test_access_lost_mid_stream_hides_the_projects_next_events(
    served, client, factory, resources, monkeypatch: pytest.MonkeyPatch, reads: str
) -> None:
    if reads == "the stream of all projects":
        monkeypatch.setattr(feed_service, "FEW_PROJECTS", 0)
        monkeypatch.setattr(feed_service, "ALL_STREAM_FACTOR", 0)
    owner, luis = await factory.user(), await factory.user()
    kept = await new_project(client, owner, title="Sigue")
    lost = await new_project(client, owner, title="Se va")
    for project_id in (kept, lost):
        await factory.member(uuid.UUID(project_id), luis, MemberRole.VIEWER)
    async with following(served, actor=luis) as events:
        before = await feed.append(resources.redis, lost, FeedEvent.INDEX_INDEXED)
        await events.until("index.indexed")
        r = await client.delete(f"{API}/projects/{lost}/members/{luis.id}", headers=owner.headers)
        assert r.status_code == 204
        await feed.append(resources.redis, lost, FeedEvent.INDEX_INDEXED)
        last = await marker(resources, kept)
        await events.until("index.indexed", marker=True)
    assert [e.id for e in events.seen] == [before, last]


async def test_a_project_feed_ends_when_its_reader_loses_the_project(
    served, client, factory, resources
) -> None:
    owner, luis = await factory.user(), await factory.user()
    project_id = await new_project(client, owner)
    await factory.member(uuid.UUID(project_id), luis, MemberRole.VIEWER)
    async with following(served, f"/projects/{project_id}/events", actor=luis) as events:
        r = await client.delete(f"{API}/projects/{project_id}/members/{luis.id}", headers=owner.headers)
        assert r.status_code == 204
        await feed.append(resources.redis, project_id, FeedEvent.INDEX_INDEXED, secret=True)
        ended = await events.next()
        with pytest.raises(StopAsyncIteration):
            await events.next()
    assert (ended.event, ended.data["code"]) == ("error", "not_found")


async def test_a_project_joined_mid_stream_is_followed_and_a_disabled_account_is_cut_off(
    served, client, factory, resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed_service, "REFRESH_SECONDS", 0.0)
    monkeypatch.setattr(feed_service, "BLOCK_MS", 200)
    owner, luis = await factory.user(), await factory.user()
    project_id = await new_project(client, owner)
    async with following(served, actor=luis) as events:
        await factory.member(uuid.UUID(project_id), luis, MemberRole.VIEWER)
        await marker(resources, project_id)
        await events.until("index.indexed", marker=True)
        async with resources.sessionmaker() as session, session.begin():
            await session.execute(sa.update(User).where(User.id == luis.id).values(is_active=False))
        ended = await events.until("error")
    assert ended.data["code"] == "unauthorized"


# --- resuming and tokens -----------------------------------------------------------------------------


async def test_last_event_id_resumes_after_that_event(served, client, factory, resources) -> None:
    owner = await factory.user()
    project_id = await new_project(client, owner)
    first, second, third = [await marker(resources, project_id) for _ in range(3)]
    for request in (
        {"headers": {"Last-Event-ID": first}},
        {"params": {"last_event_id": first}},
        {"headers": {"Last-Event-ID": first}, "params": {"last_event_id": third}},  # the header wins
    ):
        async with following(served, f"/projects/{project_id}/events", actor=owner, **request) as events:
            assert (events.ready.id, events.ready.data) == (first, {"missed": False})
            assert [(await events.next()).id for _ in range(2)] == [second, third]
    async with following(served, actor=owner) as events:  # a new reader starts after the newest event
        assert events.ready.id == third
        fourth = await marker(resources, project_id)
        assert (await events.next()).id == fourth


async def test_ready_says_when_events_after_last_event_id_are_gone(
    served, client, factory, resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(feed, "PROJECT_MAXLEN", 2)
    owner = await factory.user()
    project_id = await new_project(client, owner)
    first = await marker(resources, project_id)
    for _ in range(3):
        await marker(resources, project_id)
    await resources.redis.xtrim(keys.project_feed(project_id), maxlen=2, approximate=False)
    resume = {"headers": {"Last-Event-ID": first}}
    async with following(served, f"/projects/{project_id}/events", actor=owner, **resume) as events:
        assert events.ready.data == {"missed": True}


@pytest.mark.parametrize("where", ["header", "query"])
async def test_a_last_event_id_that_is_not_ours_is_422(served, factory, where: str) -> None:
    owner = await factory.user()
    request: dict[str, Any] = (
        {"headers": {**owner.headers, "Last-Event-ID": "drop table"}}
        if where == "header"
        else {"headers": owner.headers, "params": {"last_event_id": "12"}}
    )
    async with httpx.AsyncClient(base_url=served, timeout=10) as http:
        r = await http.get(f"{API}/events", **request)
    assert r.status_code == 422
    assert r.json()["error"]["code"] in {"invalid_last_event_id", "invalid"}


async def test_a_feed_token_opens_its_own_feed_only(served, client, factory, resources) -> None:
    owner = await factory.user()
    project_id = await new_project(client, owner)
    other = await new_project(client, owner)
    r = await client.post(f"{API}/events/token", headers=owner.headers)
    assert r.status_code == 200, r.text
    everything = r.json()
    assert everything["url"] == f"{API}/events?token={everything['token']}" and everything["expires_in"] > 0
    r = await client.post(f"{API}/projects/{project_id}/events/token", headers=owner.headers)
    one = r.json()
    assert one["url"] == f"{API}/projects/{project_id}/events?token={one['token']}"

    async with following(served, everything["url"].removeprefix(API)) as events:  # no Authorization header
        mark = await marker(resources, other)
        assert (await events.next()).id == mark
    async with following(served, one["url"].removeprefix(API)) as events:
        mark = await marker(resources, project_id)
        assert (await events.next()).id == mark
    async with httpx.AsyncClient(base_url=served, timeout=10) as http:
        for path, token in (
            (f"/projects/{other}/events", one["token"]),  # another project
            ("/events", one["token"]),  # a project's token is not the feed of everything
            (f"/projects/{project_id}/events", everything["token"]),
            ("/events", owner.headers["Authorization"].split()[1]),  # an access token is no stream token
        ):
            r = await http.get(f"{API}{path}", params={"token": token})
            assert r.status_code == 401, (path, r.text)


async def test_a_redis_timeout_mid_stream_is_retried_without_losing_an_event(
    served, client, factory, resources, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that times out (Redis or the API's event loop busy) reads again from the same cursor."""
    monkeypatch.setattr(feed_service, "BLOCK_MS", 200)
    owner = await factory.user()
    project_id = await new_project(client, owner)
    read, failures = feed.read, []

    async def flaky_read(*args: Any, **kwargs: Any) -> list[feed.FeedEntry]:
        if not failures:
            failures.append(1)
            raise redis.exceptions.TimeoutError("Timeout reading from redis")
        return await read(*args, **kwargs)

    async with following(served, actor=owner) as events:
        first = await marker(resources, project_id)
        monkeypatch.setattr(feed, "read", flaky_read)
        second = await marker(resources, project_id)
        assert [(await events.next()).id for _ in range(2)] == [first, second]
    assert failures == [1]


async def test_a_feed_only_reads(served, client, factory, resources) -> None:
    """The feeds run outside any request transaction (GET: autocommit): while they start, refresh and check
    visibility, no statement writes or locks (tests/api/test_reads_do_not_write.py cannot walk them)."""
    owner = await factory.user()
    project_id = await new_project(client, owner)
    with statements() as seen:
        for path in ("/events", f"/projects/{project_id}/events"):
            async with following(served, path, actor=owner) as events:
                mark = await marker(resources, project_id)
                assert (await events.next()).id == mark
    assert seen, "the feeds read who may see what"
    assert [sql for sql in seen if NEEDS_A_TRANSACTION.search(sql)] == []
