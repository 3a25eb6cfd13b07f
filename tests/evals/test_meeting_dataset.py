"""The meetings dataset loader: the shipped dev set is complete and consistent, and bad input is reported
with the file and line at fault (exit code 2 from the CLI)."""

from __future__ import annotations

from collections import Counter
from datetime import date
from pathlib import Path

import pytest

from evals.catalog import available_datasets
from evals.loaders import DatasetError, load_dataset
from evals.meeting_dataset import ANSWERABLE, DEFAULT_DATASET, load_meetings_dataset
from evals.meeting_scoring import check_consistency
from tests.evals.meeting_helpers import line_of, replace_in, write_tiny_dataset
from v1tr0.cli import main


def test_the_shipped_dev_set_has_what_issue_14_measures() -> None:
    dataset = load_meetings_dataset(DEFAULT_DATASET)
    types = Counter(q.type for q in dataset.questions)
    assert all(types[kind] >= 10 for kind in ANSWERABLE), types
    assert types["unanswerable"] >= 7 and types["other_project"] >= 15
    assert len(dataset.questions) >= 100 and len(dataset.queries) >= 40
    assert dataset.segment_count >= 400
    assert all(40 <= len(m.segments) <= 90 for m in dataset.meetings)
    languages = Counter(m.language for m in dataset.meetings)
    assert languages["es"] >= 6 and languages["en"] >= 1
    assert len({p.client for p in dataset.projects}) >= 2
    splits = Counter(q.split for q in dataset.questions)
    assert 0.25 <= splits["test"] / len(dataset.questions) <= 0.4
    assert {c.status for c in dataset.commitments} == {"open", "done", "moved"}
    assert any(q.project is None for q in dataset.queries)


def test_every_key_fact_is_in_its_supporting_passages_and_no_leak_fact_is_at_home() -> None:
    assert check_consistency(load_meetings_dataset(DEFAULT_DATASET)) == []


def test_the_second_set_is_consistent_and_another_world() -> None:
    """reuniones-b: the set written apart from the first, to check that what was tuned there holds."""
    second = load_meetings_dataset(DEFAULT_DATASET.parent / "reuniones-b")
    assert check_consistency(second) == []
    assert len(second.questions) >= 60 and second.segment_count >= 250
    first = load_meetings_dataset(DEFAULT_DATASET)
    assert not {p.fields["title"] for p in first.projects} & {p.fields["title"] for p in second.projects}
    assert {q.split for q in second.questions} == {"dev", "test"}


def test_the_third_set_is_held_out_whole() -> None:
    """reuniones-c: written after the tuning on reuniones-b, every question and query in the test split."""
    third = load_meetings_dataset(DEFAULT_DATASET.parent / "reuniones-c")
    assert check_consistency(third) == []
    assert len(third.questions) >= 50 and third.segment_count >= 250
    assert {q.split for q in third.questions} == {"test"} and {q.split for q in third.queries} == {"test"}


def test_the_fourth_set_is_held_out_whole() -> None:
    """reuniones-d: a fourth world, written without reading the code; every question and query is test."""
    fourth = load_meetings_dataset(DEFAULT_DATASET.parent / "reuniones-d")
    assert check_consistency(fourth) == []
    assert len(fourth.questions) >= 50 and fourth.segment_count >= 250
    assert {q.split for q in fourth.questions} == {"test"} and {q.split for q in fourth.queries} == {"test"}


def test_the_fifth_set_is_held_out_whole() -> None:
    """reuniones-e: a fifth world, written without reading the code; every question and query is test."""
    fifth = load_meetings_dataset(DEFAULT_DATASET.parent / "reuniones-e")
    assert check_consistency(fifth) == []
    assert len(fifth.questions) >= 50 and fifth.segment_count >= 250
    assert {q.split for q in fifth.questions} == {"test"} and {q.split for q in fifth.queries} == {"test"}


def test_the_sixth_set_is_held_out_whole() -> None:
    """reuniones-f: a sixth world, written without reading the code; every question and query is test."""
    sixth = load_meetings_dataset(DEFAULT_DATASET.parent / "reuniones-f")
    assert check_consistency(sixth) == []
    assert len(sixth.questions) >= 50 and sixth.segment_count >= 250
    assert {q.split for q in sixth.questions} == {"test"} and {q.split for q in sixth.queries} == {"test"}


def test_the_consistency_check_can_fail(tmp_path: Path) -> None:
    folder = write_tiny_dataset(tmp_path / "tiny")
    replace_in(folder / "questions.yaml", "key_facts: [[WooCommerce]]", "key_facts: [[Shopify]]")
    replace_in(folder / "questions.yaml", "[[un punto por cada euro]]", "[[tienda]]")
    problems = check_consistency(load_meetings_dataset(folder))
    assert "q1: key fact ['Shopify'] is not in its supporting passages" in problems
    assert "q3: leak fact ['tienda'] is also in web" in problems


def test_a_tiny_dataset_loads_with_its_world_and_gold(tmp_path: Path) -> None:
    dataset = load_meetings_dataset(write_tiny_dataset(tmp_path / "tiny"))
    assert [p.id for p in dataset.projects] == ["web", "app"]
    assert dataset.projects[0].fields["start_date"] == "2026-09-01"
    assert dataset.projects[0].documents[0].content.startswith("# Propuesta")
    assert dataset.meeting("web-1").segments[2]["text"].startswith("El presupuesto")
    assert dataset.questions[1].key_facts == (("18.500", "dieciocho mil quinientos"), ("IVA",))
    assert dataset.commitments[0].due == date(2026, 9, 18)
    assert [q.id for q in dataset.with_split("dev").questions] == ["q1", "q3", "q4"]
    assert [q.id for q in dataset.with_split("test").queries] == ["s2"]
    sliced = dataset.sliced(meetings=["web-1"], label="web")
    assert [q.id for q in sliced.questions] == ["q1", "q2"]  # q3 needs the app, q4 is asked of it
    assert [q.id for q in sliced.queries] == ["s1"]
    assert sliced.content_hash != dataset.content_hash


def test_segments_between_maps_a_span_back_onto_segments(tmp_path: Path) -> None:
    meeting = load_meetings_dataset(write_tiny_dataset(tmp_path / "tiny")).meeting("web-1")
    assert meeting.segments_between(4.5, 15.0) == [1, 2]
    assert meeting.segments_between(0.0, 20.0) == [0, 1, 2, 3]
    assert meeting.segments_between(8.0, 10.0) == []  # touches two segments, covers neither


BAD_QUESTIONS = [
    ("q2", "type: numeric", "type: guess", "type 'guess' is not one of factual"),
    ("q2", 'key_facts: [["18.500", dieciocho', "key_facts: [[18.500, dieciocho", "quote numbers"),
    (
        "q2",
        "segments: [2]}, {document",
        "segments: [9]}, {document",
        "web-1 has segments 0-3; [9] are outside",
    ),
    ("q2", "{document: web-doc}]", "{document: nope}]", "unknown document 'nope'"),
    ("q1", "    key_facts: [[WooCommerce]]\n", "", "a factual question needs key_facts"),
    ("q3", "    leak_facts: [[un punto por cada euro]]\n", "", "needs leak_facts"),
    ("q3", "other_project: app", "other_project: web", "names another project"),
    (
        "q3",
        "supporting: [{meeting: app-1, segments: [0]}]",
        "supporting: [{meeting: web-1}]",
        "not in project 'app'",
    ),
]


@pytest.mark.parametrize(("question", "old", "new", "message"), BAD_QUESTIONS)
def test_bad_questions_are_reported_with_the_line_of_their_question(
    tmp_path: Path, question: str, old: str, new: str, message: str
) -> None:
    folder = write_tiny_dataset(tmp_path / "tiny")
    path = folder / "questions.yaml"
    replace_in(path, old, new)
    with pytest.raises(DatasetError) as error:
        load_meetings_dataset(folder)
    assert str(error.value).startswith(f"{path}:{line_of(path, f'- id: {question}')}: ")
    assert message in str(error.value)


@pytest.mark.parametrize(
    ("file", "old", "new", "message"),
    [
        ("search.yaml", "grade: 2}\n      - {document", "grade: 3}\n      - {document", "grade must be 1"),
        ("search.yaml", "segments: [0, 1], grade: 2", "segments: [0, 1], grade: 1", "needs at least one key"),
        ("commitments.yaml", "status: open}", "status: moved}", "a moved commitment has moved_to"),
        ("commitments.yaml", "due: 2026-09-18", "due: viernes", "due must be an ISO date"),
        ("dataset.yaml", "start: 2026-09-16T10:00:00+02:00", "start: 2026-09-16", "with a UTC offset"),
        ("dataset.yaml", "project: app, title: App", "project: nope, title: App", "project 'nope' is not"),
        # A value the API's enums refuse (it would answer 422 halfway through the run).
        (
            "dataset.yaml",
            "    start_date: 2026-09-01\n",
            "    start_date: 2026-09-01\n    status: planning\n",
            "status 'planning' is not one of planned, in-progress",
        ),
    ],
)
def test_bad_queries_commitments_and_meetings_name_their_line(
    tmp_path: Path, file: str, old: str, new: str, message: str
) -> None:
    folder = write_tiny_dataset(tmp_path / "tiny")
    replace_in(folder / file, old, new)
    key = new.split("\n")[0].strip().rstrip("}")
    with pytest.raises(DatasetError) as error:
        load_meetings_dataset(folder)
    assert message in str(error.value)
    assert str(error.value).startswith(f"{folder / file}:")
    line = int(str(error.value).split(":")[1])
    assert line <= line_of(folder / file, key)  # the entry's first line, at or before the bad field


def test_malformed_yaml_and_transcripts_name_file_and_line(tmp_path: Path) -> None:
    folder = write_tiny_dataset(tmp_path / "tiny")
    replace_in(folder / "search.yaml", "query: puntos por euro", "query: [puntos")
    with pytest.raises(DatasetError, match=r"search\.yaml:\d+: malformed YAML"):
        load_meetings_dataset(folder)

    folder = write_tiny_dataset(tmp_path / "tiny2")
    transcript = folder / "transcripts" / "app-1.json"
    replace_in(transcript, '"start": 5.5, "end": 9.0', '"start": 5.5, "end": 1.0')
    with pytest.raises(DatasetError) as error:
        load_meetings_dataset(folder)
    assert str(error.value) == f"{transcript}:3: segment 1 has start/end out of order"

    folder = write_tiny_dataset(tmp_path / "tiny3")
    replace_in(folder / "transcripts" / "web-1.json", '"Buenos días, repasamos la tienda."', '"  "')
    with pytest.raises(DatasetError, match="without text would shift indices"):
        load_meetings_dataset(folder)


def test_the_meetings_dataset_is_not_a_retrieval_dataset(tmp_path: Path) -> None:
    """`eval retrieval` and queued API runs point to `eval meetings` instead of misreading the folder."""
    folder = write_tiny_dataset(tmp_path / "data" / "tiny")
    with pytest.raises(DatasetError, match="a meetings dataset; run it with `v1tr0 eval meetings"):
        load_dataset(folder)
    assert "tiny" not in available_datasets([tmp_path / "data"])


def test_the_cli_reports_a_bad_meetings_dataset_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_tiny_dataset(tmp_path / "tiny")
    replace_in(folder / "questions.yaml", "split: test", "split: later")
    code = main(["eval", "meetings", "--dataset", str(folder)])
    assert code == 2
    err = capsys.readouterr().err
    assert (
        f"questions.yaml:{line_of(folder / 'questions.yaml', '- id: q2')}: split 'later' is not one of" in err
    )


def test_the_seventh_set_is_held_out_whole() -> None:
    """reuniones-g: a seventh world, written without reading the code; every question and query is test."""
    seventh = load_meetings_dataset(DEFAULT_DATASET.parent / "reuniones-g")
    assert check_consistency(seventh) == []
    assert len(seventh.questions) >= 50 and seventh.segment_count >= 250
    assert {q.split for q in seventh.questions} == {"test"} and {q.split for q in seventh.queries} == {"test"}
