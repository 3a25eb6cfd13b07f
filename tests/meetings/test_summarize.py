"""Meeting summaries: the offline summariser and commitment extractor (Spanish and English commitments,
due dates, decisions, next steps) and the LLM path (validated JSON, one retry, then a stored and visible
failure)."""

from __future__ import annotations

import json
from datetime import date

import pytest

from core.events import meeting_channel
from core.providers.llm import StructuredOutputFailed
from meetings.commitments import LLMCommitmentExtractor, PatternCommitmentExtractor, resolve_due
from meetings.schemas import MeetingSummary, MeetingTranscript
from meetings.summaries import ExtractiveSummarizer, LLMSummarizer
from meetings.tasks import meeting_tasks
from prompts.loader import default_library
from tests.meetings.helpers import (
    ScriptedChat,
    commitment_rows,
    drain_meetings,
    get_transcription,
    make_meeting,
    read_events,
    summary_json,
    upload,
    vtt,
)

MEETING_DAY = date(2026, 11, 25)  # a Wednesday


@pytest.mark.parametrize(
    ("text", "due"),
    [
        ("para el viernes", date(2026, 11, 27)),
        ("el viernes por la mañana", date(2026, 11, 27)),
        ("el miércoles", date(2026, 12, 2)),  # the meeting's own weekday means next week's
        ("by Monday", date(2026, 11, 30)),
        ("mañana", date(2026, 11, 26)),
        ("tomorrow", date(2026, 11, 26)),
        ("pasado mañana", date(2026, 11, 27)),
        ("hoy", date(2026, 11, 25)),
        ("next week", date(2026, 12, 2)),
        ("la semana que viene", date(2026, 12, 2)),
        ("a fin de mes", date(2026, 11, 30)),
        ("by the end of the month", date(2026, 11, 30)),
        ("antes del 15 de diciembre", date(2026, 12, 15)),
        ("by December 15th", date(2026, 12, 15)),
        ("on the 3rd of December", date(2026, 12, 3)),
        ("el 3/12", date(2026, 12, 3)),
        ("el 12/3", date(2027, 3, 12)),  # dd/mm already past this year: next year's
        ("el 3/12/2027", date(2027, 12, 3)),
        ("el 31/02", None),
        ("sin fecha", None),
    ],
)
def test_due_dates_resolve_against_the_meeting_date(text: str, due: date | None) -> None:
    assert resolve_due(text, MEETING_DAY) == due


def segments(*lines: tuple[str | None, str]) -> list[dict[str, object]]:
    return [
        {"start": index * 5.0, "end": index * 5.0 + 5, "speaker": speaker, "text": text}
        for index, (speaker, text) in enumerate(lines)
    ]


async def extractive_summary(segments: list[dict[str, object]], *, meeting_date: date) -> MeetingSummary:
    return await ExtractiveSummarizer().summarize(MeetingTranscript(segments, "Reunión", meeting_date))


async def test_spanish_and_english_commitments_decisions_and_next_steps() -> None:
    transcript = segments(
        ("Ana", "Buenos días a todos, empezamos con el presupuesto del proyecto."),
        ("Ana", "Me encargo de enviar el presupuesto para el viernes."),
        ("Marta", "Luis va a revisar el diseño antes del 15 de diciembre."),
        ("John", "I'll send the contract by Monday."),
        ("John", "I will update the roadmap tomorrow."),
        ("Pedro", "Me comprometo a cerrar la factura a fin de mes."),
        ("Pedro", "Te mando el acta el 3/12."),
        ("Sara", "Quedo en llamar al proveedor la semana que viene."),
        ("Sara", "¿Vas a enviar el informe el lunes?"),
        ("Luis", "Will you send the report by Friday?"),
        ("Luis", "Todo va a salir bien con el cliente."),
        ("Luis", "There will be a demo next week."),
        ("Luis", "Decidimos usar React Native para la aplicación móvil."),
        ("John", "We agreed to launch the beta in March."),
        ("Marta", "El siguiente paso es preparar el prototipo con el cliente."),
        ("John", "Next steps: schedule the user interviews."),
    )
    result = await extractive_summary(transcript, meeting_date=MEETING_DAY)
    commitments = [(c.owner, c.task, c.due, c.segment_ids) for c in result.commitments]
    assert commitments == [
        ("Ana", "enviar el presupuesto", date(2026, 11, 27), [1]),
        ("Luis", "revisar el diseño", date(2026, 12, 15), [2]),
        ("John", "send the contract", date(2026, 11, 30), [3]),
        ("John", "update the roadmap", date(2026, 11, 26), [4]),
        ("Pedro", "cerrar la factura", date(2026, 11, 30), [5]),
        ("Pedro", "mandar el acta", date(2026, 12, 3), [6]),
        ("Sara", "llamar al proveedor", date(2026, 12, 2), [7]),
    ]
    assert [(d.text, d.segment_ids) for d in result.decisions] == [
        ("Decidimos usar React Native para la aplicación móvil.", [12]),
        ("We agreed to launch the beta in March.", [13]),
    ]
    assert [(n.text, n.segment_ids) for n in result.next_steps] == [
        ("El siguiente paso es preparar el prototipo con el cliente.", [14]),
        ("Next steps: schedule the user interviews.", [15]),
    ]
    assert result.summary
    # Every summary sentence and key point is a sentence of the transcript, linked to its segment.
    for item in result.key_points:
        (segment_id,) = item.segment_ids
        assert item.text in str(transcript[segment_id]["text"])


async def test_questions_and_empty_transcripts_make_no_commitments() -> None:
    result = await extractive_summary(
        segments(
            ("Ana", "¿Me encargo de enviar el presupuesto para el viernes?"), ("Luis", "Will I send it?")
        ),
        meeting_date=MEETING_DAY,
    )
    assert result.commitments == []
    assert (await extractive_summary([], meeting_date=MEETING_DAY)).model_dump() == {
        "summary": "",
        "key_points": [],
        "decisions": [],
        "commitments": [],
        "next_steps": [],
    }


# --- the LLM path -------------------------------------------------------------------------------

TRANSCRIPT = segments(
    ("Ana", "Me encargo de enviar el presupuesto para el viernes."),
    ("Luis", "Decidimos usar React Native."),
)


async def run_summary(servers, chat: ScriptedChat):
    summarizer = LLMSummarizer(chat.model(servers), default_library().get("summarize_meeting"))
    return await summarizer.summarize(MeetingTranscript(TRANSCRIPT, "Kickoff", MEETING_DAY))


async def test_valid_json_is_validated_and_unknown_segments_are_dropped(servers) -> None:
    chat = ScriptedChat(
        [
            summary_json(
                summary="Presupuesto y stack.",
                key_points=[{"text": "Stack móvil", "segment_ids": [1, 7]}],
                decisions=[{"text": "React Native", "segment_ids": [1, -1]}],
                commitments=[
                    {
                        "owner": "Ana",
                        "task": "enviar el presupuesto",
                        "due": "2026-11-27",
                        "segment_ids": [0, 99],
                    }
                ],
                next_steps=[{"text": "Prototipo", "segment_ids": []}],
            )
        ]
    )
    result = await run_summary(servers, chat)
    assert result.model_dump(mode="json") == {
        "summary": "Presupuesto y stack.",
        "key_points": [{"text": "Stack móvil", "segment_ids": [1]}],
        "decisions": [{"text": "React Native", "segment_ids": [1]}],
        "commitments": [
            {"owner": "Ana", "task": "enviar el presupuesto", "due": "2026-11-27", "segment_ids": [0]}
        ],
        "next_steps": [{"text": "Prototipo", "segment_ids": []}],
    }
    (request,) = chat.requests
    # The answer is constrained to the summary's schema (OpenAI structured outputs; a grammar on llama.cpp).
    response_format = request["response_format"]
    assert response_format["type"] == "json_schema"
    assert set(response_format["json_schema"]["schema"]["properties"]) == {
        "summary",
        "key_points",
        "decisions",
        "commitments",
        "next_steps",
    }
    assert request["temperature"] == 0.0
    user = request["messages"][1]["content"]
    assert "Kickoff (2026-11-25)" in user
    assert "[0] (00:00) Ana: Me encargo de enviar el presupuesto" in user
    assert "[1] (00:05) Luis: Decidimos usar React Native." in user


async def test_invalid_json_once_then_valid_succeeds(servers) -> None:
    chat = ScriptedChat(
        ["Claro, aquí tienes el resumen: {summary: ...", summary_json(summary="Segundo intento.")]
    )
    result = await run_summary(servers, chat)
    assert result.summary == "Segundo intento."
    assert len(chat.requests) == 2


@pytest.mark.parametrize(
    "replies",
    [
        ["no es JSON", '{"summary": '],
        [json.dumps({"key_points": []}), json.dumps({"summary": "x", "commitments": [{"owner": "Ana"}]})],
    ],
    ids=["not-json", "json-that-does-not-validate"],
)
async def test_invalid_output_twice_fails(servers, replies: list[str]) -> None:
    chat = ScriptedChat(replies)
    with pytest.raises(StructuredOutputFailed, match="invalid structured output"):
        await run_summary(servers, chat)
    assert len(chat.requests) == 2


async def test_summary_failure_is_stored_visible_and_announced(
    servers, client, factory, settings, resources, redis_client
) -> None:
    owner = await factory.user()
    _, meeting_id = await make_meeting(client, owner)
    pubsub = redis_client.pubsub()
    await pubsub.subscribe(meeting_channel(meeting_id))
    try:
        r = await upload(
            client, owner, meeting_id, "kickoff.vtt", vtt(("Ana", "Me encargo de enviar el presupuesto."))
        )
        assert r.status_code == 202, r.text
        transcription_id = r.json()["id"]
        chat = ScriptedChat(["esto no es JSON", "esto tampoco"])
        await drain_meetings(settings, resources, chat_model=chat.model(servers))
        assert len(chat.requests) == 2

        body = await get_transcription(client, owner, transcription_id)
        assert body["processing_status"] == "failed"
        assert body["stage"] == "failed"
        assert body["error"].startswith("invalid structured output")
        assert body["summary"] is None and body["commitments"] == []
        assert body["segments"][0]["text"] == "Me encargo de enviar el presupuesto."  # the transcript is kept

        events = await read_events(pubsub, until="failed")
        assert [e["event"] for e in events] == ["summarising", "failed"]
        assert events[-1]["transcription_id"] == transcription_id
        assert events[-1]["reason"] == body["error"]
    finally:
        await pubsub.aclose()

    # Failed is not "in progress": the summary can be asked for again, and a new upload is accepted.
    r = await client.post(
        f"/api/v1/transcriptions/{transcription_id}/regenerate-summary", headers=owner.headers
    )
    assert r.status_code == 202, r.text
    chat = ScriptedChat([summary_json(summary="Ahora sí.")])
    await drain_meetings(settings, resources, chat_model=chat.model(servers))
    body = await get_transcription(client, owner, transcription_id)
    assert body["processing_status"] == "completed" and body["error"] is None
    assert body["summary"] == "Ahora sí." and body["summary_provider"] == "openai-compatible"


# --- the commitments' own prompt ----------------------------------------------------------------------

HANDOVER = segments(
    ("Ana", "Luis, ¿nos pasas el presupuesto?"),
    ("Luis", "Sí, os lo mando el viernes."),
)


def commitments_summarizer(servers, chat: ScriptedChat) -> LLMSummarizer:
    """What the worker runs with a chat model (meetings/tasks.py)."""
    return meeting_tasks(chat.model(servers), default_library()).summarizer  # type: ignore[return-value]


async def test_commitments_come_from_their_own_prompt_due_dates_as_said_resolved_here(servers) -> None:
    chat = ScriptedChat(
        [
            summary_json(summary="Presupuesto."),
            json.dumps(
                {
                    "commitments": [
                        # The due date as said; a date the model left in the task is cut out of it.
                        {
                            "segment_ids": [0, 1, 42],
                            "owner": "Luis",
                            "task": "mandar el presupuesto el viernes",
                            "due": "el viernes",
                        },
                        {
                            "segment_ids": [1],
                            "owner": "Ana",
                            "task": "revisar el contrato",
                            "due": "2026-12-01",
                        },
                        # No owner: the speaker of the segment where it is said first.
                        {"segment_ids": [1, 0], "owner": None, "task": "llamar al cliente", "due": "pronto"},
                    ]
                }
            ),
        ]
    )
    summarizer = commitments_summarizer(servers, chat)
    assert isinstance(summarizer.commitments, LLMCommitmentExtractor)
    result = await summarizer.summarize(MeetingTranscript(HANDOVER, "Seguimiento", MEETING_DAY))
    assert [(c.owner, c.task, c.due, c.segment_ids) for c in result.commitments] == [
        ("Luis", "mandar el presupuesto", date(2026, 11, 27), [0, 1]),
        ("Ana", "revisar el contrato", date(2026, 12, 1), [1]),
        ("Luis", "llamar al cliente", None, [1, 0]),
    ]
    assert result.summary == "Presupuesto." and result.problems == []

    notes, asked = chat.requests
    # The summary call no longer asks for commitments; the commitments call asks for where they are
    # said first, then who, what and when (as said).
    assert set(notes["response_format"]["json_schema"]["schema"]["properties"]) == {
        "summary",
        "key_points",
        "decisions",
        "next_steps",
    }
    schema = asked["response_format"]["json_schema"]["schema"]
    item = schema["$defs"]["SaidCommitment"]
    assert list(item["properties"]) == ["segment_ids", "owner", "task", "due"]
    # Every segment with its speaker; both calls start alike (a llama.cpp server reuses what it has read).
    user = asked["messages"][1]["content"]
    assert (
        "[0] (00:00) Ana: Luis, ¿nos pasas el presupuesto?\n[1] (00:05) Luis: Sí, os lo mando el viernes."
        in user
    )
    assert notes["messages"][0] == asked["messages"][0]
    shared = user.index("</transcript>")
    assert notes["messages"][1]["content"][:shared] == user[:shared]


async def test_when_the_model_gives_no_commitments_the_patterns_do_and_it_is_recorded(
    servers, client, factory, settings, resources
) -> None:
    chat = ScriptedChat(
        [summary_json(summary="Presupuesto."), "no es JSON", '{"commitments": [{"owner": "Luis"}]}']
    )
    result = await commitments_summarizer(servers, chat).summarize(
        MeetingTranscript(HANDOVER, "Seguimiento", MEETING_DAY)
    )
    assert len(chat.requests) == 3  # the summary, the commitments and their one retry
    assert [(c.owner, c.task, c.due) for c in result.commitments] == [
        ("Luis", "mandar el presupuesto", date(2026, 11, 27))
    ]
    (problem,) = result.problems
    assert problem.startswith("commitments by patterns-v2: the model gave none (invalid structured output")

    # Through the worker: the transcription completes, says why, and the ledger has the patterns' rows.
    owner = await factory.user()
    _, meeting_id = await make_meeting(client, owner)
    r = await upload(
        client, owner, meeting_id, "handover.vtt", vtt(*[(s["speaker"], s["text"]) for s in HANDOVER])
    )
    assert r.status_code == 202, r.text
    chat = ScriptedChat([summary_json(summary="Presupuesto."), "no es JSON", "tampoco"])
    await drain_meetings(settings, resources, chat_model=chat.model(servers))
    body = await get_transcription(client, owner, r.json()["id"])
    assert body["processing_status"] == "completed" and body["summary"] == "Presupuesto."
    assert body["error"].startswith("commitments by patterns-v2: the model gave none")
    assert body["summary_provider"] == "openai-compatible"
    assert [(c["owner"], c["task"]) for c in body["commitments"]] == [("Luis", "mandar el presupuesto")]
    assert [(row.owner_name, row.task) for row in await commitment_rows(resources)] == [
        ("Luis", "mandar el presupuesto")
    ]


def test_without_a_model_the_tasks_are_offline() -> None:
    tasks = meeting_tasks(None, default_library())
    assert isinstance(tasks.summarizer, ExtractiveSummarizer)
    assert isinstance(tasks.summarizer.commitments, PatternCommitmentExtractor)


def test_the_local_model_summarises_and_the_patterns_list_the_commitments_unless_told() -> None:
    """auto: beside the local model the patterns list the commitments (they measured better on the dev
    set); a remote provider's model lists them itself; the setting forces either."""
    from types import SimpleNamespace

    from core.providers.llm import LOCAL_PROVIDER
    from core.settings import Settings
    from meetings.tasks import commitment_source

    local = SimpleNamespace(provider=LOCAL_PROVIDER, model="qwen2.5-coder-1.5b")
    remote = SimpleNamespace(provider="openai-compatible", model="gpt")
    auto = Settings(_env_file=None)  # type: ignore[call-arg]
    assert auto.transcription.commitments == "auto"
    assert commitment_source(auto, local) == "patterns"  # type: ignore[arg-type]
    assert commitment_source(auto, remote) == "model"  # type: ignore[arg-type]
    assert commitment_source(auto, None) == "model"
    forced = Settings(_env_file=None, transcription={"commitments": "model"})  # type: ignore[call-arg]
    assert commitment_source(forced, local) == "model"  # type: ignore[arg-type]

    tasks = meeting_tasks(local, default_library(), commitments="patterns")  # type: ignore[arg-type]
    assert isinstance(tasks.summarizer, LLMSummarizer)
    assert isinstance(tasks.summarizer.commitments, PatternCommitmentExtractor)
    tasks = meeting_tasks(local, default_library(), commitments="model")  # type: ignore[arg-type]
    assert isinstance(tasks.summarizer.commitments, LLMCommitmentExtractor)  # type: ignore[attr-defined]


async def test_beside_the_model_the_patterns_list_the_commitments_in_one_model_call(servers) -> None:
    chat = ScriptedChat([summary_json(summary="Presupuesto.")])
    summarizer = meeting_tasks(chat.model(servers), default_library(), commitments="patterns").summarizer
    result = await summarizer.summarize(MeetingTranscript(HANDOVER, "Seguimiento", MEETING_DAY))
    assert result.summary == "Presupuesto." and result.problems == []
    assert [(c.owner, c.due, c.segment_ids) for c in result.commitments] == [
        ("Luis", date(2026, 11, 27), [1])
    ]
    assert "presupuesto" in result.commitments[0].task
    (notes,) = chat.requests  # the summary only: no commitments call
    assert "commitments" not in notes["response_format"]["json_schema"]["schema"]["properties"]
