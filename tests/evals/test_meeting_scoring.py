"""Scoring of the meetings eval on small hand-made cases, each computed by hand."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import pytest

from evals.meeting_cli import format_table
from evals.meeting_dataset import GoldCommitment, GradedRef, Ref, load_meetings_dataset
from evals.meeting_eval import score_answer, summarise
from evals.meeting_scoring import (
    LedgerRow,
    WorldIds,
    abstained,
    citation_precision,
    commitment_metrics,
    contains_form,
    facts_present,
    fold,
    key_coverage,
    leaks,
    match_commitments,
    ndcg,
    same_owner,
    source_units,
    status_right,
    task_similarity,
)
from tests.evals.meeting_helpers import write_tiny_dataset

# --------------------------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("18.500 €", "18500 euros"),
        ("18,500 EUROS", "18500 euros"),
        ("6,90", "6.90"),
        ("10%", "10 %"),
        ("Fráncfort", "francfort"),
        ("1.432 socios", "1432 socios"),
    ],
)
def test_fold_makes_number_formats_case_and_accents_alike(a: str, b: str) -> None:
    assert fold(a) == fold(b)


def test_fold_keeps_what_is_not_a_thousands_separator() -> None:
    assert fold("963 20 44 10") == "963 20 44 10"
    assert fold("2015, 2016") == "2015, 2016"
    assert fold("6,9") == "6.9"


def test_forms_match_whole_words_only() -> None:
    assert contains_form(fold("cuesta 120 euros"), "120")
    assert not contains_form(fold("cuesta 120 euros"), "12")
    assert not contains_form(fold("ciento veinte"), "cien")
    assert contains_form(fold("El 12 %."), fold("12%"))
    assert not contains_form("algo", "")


def test_facts_are_present_when_any_of_their_forms_is() -> None:
    facts = [("18.500", "dieciocho mil quinientos"), ("IVA",), ("Redsys",)]
    assert facts_present("Son Dieciocho mil quinientos euros más iva.", facts) == [True, True, False]
    assert facts_present("18500 € + IVA", facts) == [True, True, False]


# --------------------------------------------------------------------------------------------- answers


def test_abstention_reads_grounded_or_an_explicit_field() -> None:
    assert abstained({"grounded": False, "answer": "No encuentro información"})
    assert abstained({"grounded": True, "abstained": True})
    assert not abstained({"grounded": True})
    assert not abstained({"answer": "sin campos"})


def test_leaks_are_foreign_citations_or_foreign_facts() -> None:
    body = {
        "answer": "Da un punto por cada euro [1].",
        "citations": [{"project_id": "p-web"}, {"project_id": "p-app"}],
    }
    reasons = leaks(body, project_id="p-web", leak_facts=[("un punto por cada euro",), ("Brightside",)])
    assert reasons == ["cites project p-app", "says 'un punto por cada euro'"]
    assert leaks({"answer": "No lo sé", "citations": []}, project_id="p-web", leak_facts=[("euro",)]) == []


@pytest.fixture
def world(tmp_path: Path) -> tuple[object, WorldIds]:
    dataset = load_meetings_dataset(write_tiny_dataset(tmp_path / "tiny"))
    ids = WorldIds(
        projects={"P-web": "web", "P-app": "app"},
        documents={"D-1": "web-doc"},
        meetings={"M-web": dataset.meeting("web-1"), "M-app": dataset.meeting("app-1")},
    )
    return dataset, ids


def test_sources_map_to_units_preferring_segment_ids_over_times(world: tuple[object, WorldIds]) -> None:
    _, ids = world
    transcript = {"source_type": "transcript", "source_id": "T", "meeting_id": "M-web"}
    assert source_units({**transcript, "start": 4.5, "end": 15.0}, ids) == [
        ("segment", "web-1", 1),
        ("segment", "web-1", 2),
    ]
    assert source_units({**transcript, "start": 0.0, "end": 20.0, "segment_ids": [3]}, ids) == [
        ("segment", "web-1", 3)
    ]
    assert source_units({**transcript, "segments": [{"id": 0}, {"id": 2}]}, ids) == [
        ("segment", "web-1", 0),
        ("segment", "web-1", 2),
    ]
    summary = {"source_type": "summary", "source_id": "T", "meeting_id": "M-web"}
    assert source_units(summary, ids) == [("meeting", "web-1", -1)]
    assert source_units({"source_type": "document", "source_id": "D-1"}, ids) == [("document", "web-doc", -1)]
    assert source_units({"source_type": "project", "source_id": "P-app"}, ids) == [("project", "app", -1)]
    assert source_units({"source_type": "transcript", "source_id": "X", "meeting_id": "M-other"}, ids) == [
        ("unknown", "transcript:X", -1)
    ]


def test_citation_precision_counts_every_cited_unit() -> None:
    supporting = [Ref("meeting", "web-1", (2,)), Ref("document", "web-doc")]
    chunk = [("segment", "web-1", 1), ("segment", "web-1", 2), ("segment", "web-1", 3)]
    document = [("document", "web-doc", -1)]
    assert citation_precision([chunk, document], supporting) == pytest.approx(2 / 4)
    assert citation_precision([[("segment", "web-1", 2)]], supporting) == 1.0
    assert citation_precision([[("meeting", "web-1", -1)]], supporting) == 1.0  # a summary of the meeting
    assert citation_precision([[("meeting", "app-1", -1)]], supporting) == 0.0
    assert citation_precision([], supporting) is None


def test_an_answer_is_scored_by_its_type(world: tuple[object, WorldIds]) -> None:
    dataset, ids = world
    question = dataset.questions[1]  # q2: numeric, facts 18.500 and IVA, supporting web-1 [2] + web-doc
    body = {
        "answer": "El presupuesto son 18.500 euros [1].",
        "grounded": True,
        "citations": [
            {
                "project_id": "P-web",
                "source_type": "transcript",
                "source_id": "T",
                "meeting_id": "M-web",
                "start": 4.5,
                "end": 15.0,
            },
        ],
    }
    scored = score_answer(question, body, project_id="P-web", ids=ids)
    assert scored["key_facts"] == 0.5 and scored["key_facts_all"] == 0.0
    assert scored["citation_precision"] == 0.5  # segments 1 and 2 cited, 2 supports
    assert scored["transcript_spans"] == [2]
    assert scored["leak"] == [] and not scored["abstained"]
    other = dataset.questions[2]  # q3: other_project; its leak fact said aloud
    scored = score_answer(
        other,
        {"answer": "Un punto por cada euro.", "grounded": True, "citations": []},
        project_id="P-web",
        ids=ids,
    )
    assert scored["leak"] == ["says 'un punto por cada euro'"]
    assert scored["key_facts"] is None and scored["citation_precision"] is None


# --------------------------------------------------------------------------------------------- search

KEY = GradedRef(Ref("meeting", "m", (1, 2)), 2)
RELATED = GradedRef(Ref("document", "d"), 1)


def seg(*indices: int) -> list[tuple[str, str, int]]:
    return [("segment", "m", i) for i in indices]


def test_key_coverage_is_the_share_of_key_units_shown_in_the_top_k() -> None:
    assert key_coverage([seg(0, 1), [("document", "d", -1)]], [KEY, RELATED]) == 0.5
    assert key_coverage([seg(1, 2)], [KEY]) == 1.0
    assert key_coverage([[("meeting", "m", -1)]], [KEY]) == 0.0  # a summary does not show segment 1
    assert key_coverage([[]] * 10 + [seg(1, 2)], [KEY]) == 0.0  # rank 11 is outside the top 10


def test_ndcg_counts_each_judged_unit_once_with_linear_gains() -> None:
    # Ideal: units m/1 (2), m/2 (2), d (1) at ranks 1-3.
    idcg = 2 + 2 / math.log2(3) + 1 / 2
    assert ndcg([seg(1), seg(2), [("document", "d", -1)]], [KEY, RELATED]) == pytest.approx(1.0)
    # One chunk with both key segments: one gain of 2; the document at rank 2.
    assert ndcg([seg(0, 1, 2), [("document", "d", -1)]], [KEY, RELATED]) == pytest.approx(
        (2 + 1 / math.log2(3)) / idcg
    )
    # The same segment again gains nothing; a miss at rank 1 pushes the hit down.
    assert ndcg([seg(1), seg(1)], [KEY]) == pytest.approx(2 / (2 + 2 / math.log2(3)))
    assert ndcg([seg(7), seg(2)], [KEY]) == pytest.approx((2 / math.log2(3)) / (2 + 2 / math.log2(3)))
    assert ndcg([], [KEY]) == 0.0


# --------------------------------------------------------------------------------------------- commitments


def gold(
    owner: str, task: str, *, due: date | None = None, status: str = "open", **kw: object
) -> GoldCommitment:
    return GoldCommitment(
        meeting=str(kw.get("meeting", "m1")),
        owner=owner,
        task=task,
        due=due,
        segments=(1,),
        status=status,
        moved_to=kw.get("moved_to"),  # type: ignore[arg-type]
    )


def row(
    owner: str | None, task: str, *, due: date | None = None, status: str = "open", meeting: str = "m1"
) -> LedgerRow:
    return LedgerRow(meeting=meeting, owner=owner, task=task, due=due, status=status)


def test_owners_match_by_their_words_and_tasks_by_shared_content_stems() -> None:
    assert same_owner("Elena", "Elena Ribalta") and same_owner("Sofía Navarro", "sofia")
    assert not same_owner("Elena", "Elisa") and not same_owner("Elena", None)
    # stems envia fotos vinos | envia fotos vinos antes fin mes: Dice 2*3/(3+6)
    assert task_similarity(
        "enviar las fotos de los vinos", "enviar las fotos de los vinos antes de fin de mes"
    ) == pytest.approx(2 / 3)
    assert task_similarity("mandar el acta", "mandar el anexo al contrato") == 0.0  # only the verb is shared
    assert task_similarity("contactar con Lexdata", "contactar con Lexdata") == 1.0


def test_commitments_match_one_to_one_within_their_meeting() -> None:
    golds = [
        gold("Elena", "enviar las fotos de los vinos", due=date(2026, 9, 30)),
        gold("Laura", "mandar el acta"),
    ]
    rows = [
        row("Elena", "enviar las fotos de los vinos", due=date(2026, 9, 30)),
        row("Elena", "enviar las fotos de los vinos otra vez"),  # a duplicate: precision pays
        row("Laura", "mandar el acta", meeting="m2"),  # right words, wrong meeting
        row("Pilar", "mandar el acta"),  # wrong owner
    ]
    matches = match_commitments(golds, rows)
    assert [(m.gold, m.row) for m in matches] == [(0, 0)]
    metrics = commitment_metrics(golds, rows)
    assert metrics["commitments/recall"] == 0.5 and metrics["commitments/precision"] == 0.25
    assert metrics["commitments/due_accuracy"] == 1.0


def test_due_dates_and_statuses_are_judged_on_matched_commitments() -> None:
    golds = [
        gold("Carmen", "preparar el moodboard", due=date(2026, 9, 25), status="done"),
        gold(
            "Elena",
            "pasar los textos en inglés",
            due=date(2026, 10, 20),
            status="moved",
            moved_to=date(2026, 11, 10),
        ),
    ]
    rows = [
        row("Carmen", "preparar el moodboard", due=date(2026, 9, 22), status="done"),
        row("Elena", "pasar los textos en inglés", due=date(2026, 10, 20), status="open"),
    ]
    metrics = commitment_metrics(golds, rows)
    assert metrics["commitments/due_accuracy"] == 0.5  # Carmen's said-in-meeting date is the 25th
    assert metrics["commitments/status_accuracy"] == 0.5  # the move to 10 November is not in the ledger
    assert status_right(golds[1], row("Elena", "x", due=date(2026, 11, 10), status="open"))
    assert commitment_metrics(golds, [])["commitments/precision"] == 0.0


# --------------------------------------------------------------------------------------------- summary


def test_the_summary_reports_every_row_overall_and_by_type() -> None:
    def item(
        kind: str, *, facts: float | None, abstained: bool, precision: float | None = None
    ) -> dict[str, object]:
        return {
            "type": kind,
            "key_facts": facts,
            "key_facts_all": None if facts is None else float(facts == 1.0),
            "abstained": abstained,
            "leak": [],
            "citation_precision": precision,
            "transcript_spans": [4],
            "latency_ms": 10.0,
        }

    questions = [
        item("factual", facts=1.0, abstained=False, precision=0.5),
        item("factual", facts=0.0, abstained=True),
        item("numeric", facts=0.5, abstained=False, precision=1.0),
        item("unanswerable", facts=None, abstained=True),
        item("other_project", facts=None, abstained=False) | {"leak": ["says 'x'"]},
    ]
    queries = [
        {"scope": "project", "key_top10": 1.0, "ndcg@10": 0.5},
        {"scope": "global", "key_top10": 0.0, "ndcg@10": 0.0},
    ]
    metrics = summarise(questions, queries, {"commitments/recall": 0.25})
    assert (
        metrics["key_facts"] == 0.5
        and metrics["key_facts/factual"] == 0.5
        and metrics["key_facts/numeric"] == 0.5
    )
    assert metrics["abstention"] == 0.5 and metrics["abstained/unanswerable"] == "1 of 1"
    assert (
        metrics["false_abstention"] == pytest.approx(1 / 3, abs=1e-4)
        and metrics["false_abstention/factual"] == 0.5
    )
    assert metrics["leaks"] == 1
    assert metrics["citation_precision"] == 0.75 and metrics["segments_per_cited_chunk"] == 4.0
    assert metrics["key_top10"] == 0.5 and metrics["ndcg@10/global"] == 0.0
    table = format_table(metrics)
    assert "answer holds the key facts" in table and "factual 0.50, numeric 0.50" in table
    assert "unanswerable 1 of 1, other_project 0 of 1" in table
