"""One language per screen: the console's and the server's tables say the same things in Spanish and in
English, every enum value the console shows has a word in both, and what the API writes into insights,
suggestions and indexed text is in one language only (tests/console/test_console_browser.py checks the
screens themselves)."""

from __future__ import annotations

import re
import uuid
from datetime import date, timedelta
from typing import Any, get_args

import pytest

from api.schemas.documents import DocumentListItem
from core import i18n
from core.feed import FeedEvent
from core.models import (
    CommitmentStatus,
    MeetingStatus,
    Priority,
    ProjectStatus,
    SourceType,
    TranscriptionStage,
)
from core.settings import IngestionSettings
from ingestion.artifacts import load_artifact
from ingestion.chunkers import chunk_items
from tests.console.languages import PLACEHOLDERS, console_table, foreign_strings, strings
from tests.ingestion.helpers import drain

PLACEHOLDER = re.compile(r"\{\w+\}")


def _shape(table: Any, prefix: str = "") -> dict[str, set[str]]:
    """key path -> the placeholders of its string."""
    if isinstance(table, str):
        return {prefix: set(PLACEHOLDER.findall(table))}
    shape: dict[str, set[str]] = {}
    for key, value in table.items():
        shape |= _shape(value, f"{prefix}.{key}" if prefix else key)
    return shape


@pytest.mark.parametrize("tables", ["console", "server"])
def test_both_languages_have_the_same_keys_and_placeholders(tables: str) -> None:
    es, en = (console_table()["es"], console_table()["en"]) if tables == "console" else (i18n.ES, i18n.EN)
    assert _shape(es) == _shape(en)
    assert all(string.strip() for string in strings(es)) and all(string.strip() for string in strings(en))


def test_every_value_the_console_shows_has_a_word_in_each_language() -> None:
    shown = {
        "sourceTypes": SourceType,
        "stages": TranscriptionStage,
        "meetingStatus": MeetingStatus,
        "commitmentStatus": CommitmentStatus,
        "events": FeedEvent,
    }
    for language in ("es", "en"):
        table = console_table()[language]
        for group, values in shown.items():
            assert set(table[group]) == {value.value for value in values}, (language, group)
        states = get_args(DocumentListItem.model_fields["index_state"].annotation)
        assert set(table["indexStates"]) == set(states)
        for status in ("on_track", "at_risk", "off_track", "unknown"):
            assert table[status]


@pytest.mark.parametrize("language", ["es", "en"])
def test_the_console_and_the_server_name_statuses_alike(language: i18n.Language) -> None:
    table = console_table()[language]
    for status in MeetingStatus:
        assert table["meetingStatus"][status.value] == i18n.enum_word(status, language)
    for commitment in CommitmentStatus:
        assert table["commitmentStatus"][commitment.value] == i18n.enum_word(commitment, language)
    for enum in (ProjectStatus, Priority):
        for member in enum:
            assert i18n.enum_word(member, language)


def test_the_checker_finds_the_other_language() -> None:
    """The check the other tests rely on: it sees English in a Spanish text (enum words included), and
    not what both languages share or what is merely a longer word."""
    assert foreign_strings("Estado: planned. Prioridad: medium.", "es") == ["medium", "planned"]
    assert "Sign in" in foreign_strings("Sign in", "es")
    assert foreign_strings("Chat · Documentos · documento · 3 páginas", "es") == []
    assert {"Salud", "Salud del proyecto", "proyecto"} <= set(foreign_strings("Salud del proyecto", "en"))
    assert foreign_strings("Project health: On track", "en") == []


def test_the_placeholder_check_sees_runs_and_not_words() -> None:
    """The issue's "nullnullnullnull" (four missing children appended as strings) is caught; words that
    merely contain the letters are not."""
    for shown in ("nullnullnullnull", "Progreso NaN%", "Inicio: undefined", "[object Object]", "null."):
        assert PLACEHOLDERS.search(shown), shown
    for shown in ("anulado", "nullable", "Nanook", "undefinedness"):
        assert not PLACEHOLDERS.search(shown), shown


def test_accept_language_picks_a_supported_language() -> None:
    assert i18n.negotiate(None) == "es"
    assert i18n.negotiate("en-US,en;q=0.9") == "en"
    assert i18n.negotiate("fr-FR, en;q=0.5, es;q=0.4") == "en"
    assert i18n.negotiate("es-ES,es;q=0.9,en;q=0.8") == "es"
    assert i18n.negotiate("en;q=0, de") == "es"
    assert i18n.negotiate("en;q=nope") == "es"
    assert i18n.negotiate("*") == "es"


def _readable(body: dict[str, Any], *, quotes: bool) -> str:
    """The words of an insights body a person reads: the health reasons, and with `quotes` the items,
    which quote the indexed text (codes such as `source_type` are for programs, not people)."""
    sections = ("commitments", "decisions", "risks", "next_steps") if quotes else ()
    items = [item["text"] for section in sections for item in body[section]]
    return "\n".join([*body["health"]["reasons"], *items])


async def _troubled_project(client: Any, owner: Any) -> str:
    """A project behind schedule, over budget, past its deadline: every kind of health reason."""
    today = date.today()
    r = await client.post(
        "/api/v1/projects",
        json={
            "title": "App móvil",
            "status": "in-progress",
            "priority": "high",
            "progress": 20,
            "start_date": str(today - timedelta(days=90)),
            "end_date": str(today + timedelta(days=10)),
            "deadline": str(today - timedelta(days=3)),
            "budget": 1000,
            "hourly_rate": 50,
            "estimated_hours": 30,
            "actual_hours": 25,
        },
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


async def test_insights_and_suggestions_speak_the_language_asked_for(
    client: Any, factory: Any, settings: Any, resources: Any
) -> None:
    owner = await factory.user()
    project_id = await _troubled_project(client, owner)
    r = await client.post(
        f"/api/v1/projects/{project_id}/documents",
        json={"title": "Oferta", "content": "Ana enviará la oferta el viernes."},
        headers=owner.headers,
    )
    assert r.status_code == 201, r.text
    await drain(settings, resources)
    url = f"/api/v1/ai/insights/{project_id}"

    spanish = (await client.get(url, headers=owner.headers)).json()
    assert spanish["language"] == "es" and spanish["cached"] is False
    assert len(spanish["health"]["reasons"]) >= 3, spanish["health"]
    assert foreign_strings(_readable(spanish, quotes=True), "es") == []
    assert "La fecha límite pasó hace 3 días" in spanish["health"]["reasons"]

    english = (await client.get(url, headers={**owner.headers, "Accept-Language": "en-GB,en;q=0.9"})).json()
    assert english["cached"] is True and english["language"] == "en"
    assert english["health"]["status"] == spanish["health"]["status"]
    assert len(english["health"]["reasons"]) == len(spanish["health"]["reasons"])
    assert foreign_strings(_readable(english, quotes=False), "en") == []
    assert "The deadline passed 3 days ago" in english["health"]["reasons"]
    assert english["commitments"] == spanish["commitments"]  # one cached copy serves both

    # ?lang= wins over the header
    r = await client.get(url, params={"lang": "es"}, headers={**owner.headers, "Accept-Language": "en"})
    assert r.json()["health"]["reasons"] == spanish["health"]["reasons"]
    r = await client.get(url, params={"lang": "fr"}, headers=owner.headers)
    assert r.status_code == 422

    for language in ("es", "en"):
        r = await client.get(
            f"/api/v1/ai/suggestions/{project_id}", params={"lang": language}, headers=owner.headers
        )
        questions = [s["question"] for s in r.json()["suggestions"]]
        assert questions and foreign_strings(" ".join(questions), language) == [], questions
    assert "What does the document “Oferta” say?" in questions


async def test_a_project_with_no_numbers_says_so_in_words(
    client: Any, factory: Any, settings: Any, resources: Any
) -> None:
    owner = await factory.user()
    r = await client.post("/api/v1/projects", json={"title": "Web"}, headers=owner.headers)
    await drain(settings, resources)
    url = f"/api/v1/ai/insights/{r.json()['id']}"
    r = await client.get(url, headers=owner.headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["health"] == {
        "status": "unknown",
        "reasons": [i18n.text("health.unknown", "es")],
        "stats": body["health"]["stats"],
    }
    assert body["commitments"] == body["decisions"] == body["risks"] == body["next_steps"] == []


async def test_indexed_project_and_meeting_text_is_spanish(client: Any, factory: Any, resources: Any) -> None:
    owner = await factory.user()
    project_id = await _troubled_project(client, owner)
    r = await client.post(
        "/api/v1/meetings",
        json={"project_id": project_id, "title": "Kickoff", "start_time": "2026-11-25T10:00:00+01:00"},
        headers=owner.headers,
    )
    meeting_id = r.json()["id"]
    config = IngestionSettings()
    async with resources.sessionmaker() as session:
        project = await load_artifact(session, SourceType.PROJECT, uuid.UUID(project_id), config)
        meeting = await load_artifact(session, SourceType.MEETING, uuid.UUID(meeting_id), config)
    assert project and meeting
    project_text = project.drafts[0].content
    meeting_text = meeting.drafts[0].content
    assert "Estado: en curso. Progreso: 20 %. Prioridad: alta." in project_text
    assert f"Fecha límite: {date.today() - timedelta(days=3)}." in project_text
    assert "Reunión «Kickoff». Estado: programada. Inicio: 2026-11-25" in meeting_text
    assert "Fin:" not in meeting_text and "—" not in meeting_text  # no end time: left out, not a dash
    for text in (project_text, meeting_text):
        assert foreign_strings(text, "es") == [], text

    commitment = chunk_items(
        [{"owner": "Ana", "task": "enviar la oferta", "due": "2026-11-27", "status": "done"}],
        source_type=SourceType.COMMITMENTS,
        label=i18n.index_text("index.label.commitment"),
        meeting_id=meeting_id,
        meeting_title="Kickoff",
        max_tokens=200,
    )[0].content
    assert commitment.endswith("Ana: enviar la oferta (fecha: 27 de noviembre de 2026; estado: cumplido)")
    assert foreign_strings(commitment, "es") == []
