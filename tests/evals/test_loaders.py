"""Dataset loaders: the three formats, and bad input named by file and line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evals.loaders import DatasetError, load_dataset
from tests.evals.helpers import QRELS, write_beir, write_meeting, write_project
from v1tr0.cli import main


def test_beir_keeps_judged_queries_and_graded_qrels(tmp_path: Path) -> None:
    dataset = load_dataset(write_beir(tmp_path / "tiny", split="train"), "train")

    assert (dataset.name, dataset.format, dataset.split) == ("tiny", "beir", "train")
    assert [doc.id for doc in dataset.docs] == ["d1", "d2", "d3", "d4", "d5"]
    assert [(q.key, dict(q.relevant)) for q in dataset.questions] == [
        ("q1", {"d1": 1}),
        ("q2", {"d5": 1}),
        ("q3", {"d4": 1}),
    ]
    assert dataset.docs[0].title == "Solar panels"


def test_the_split_names_the_files_and_a_missing_split_is_explained(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "tiny", split="train")

    with pytest.raises(
        DatasetError, match=r"missing queries.jsonl, qrels.tsv \(splits here: train; pass --split\)"
    ):
        load_dataset(folder)
    with pytest.raises(DatasetError, match=r"missing queries_test\.jsonl, qrels_test\.tsv"):
        load_dataset(folder, "test")


def test_malformed_json_lines_are_reported_with_their_line_number(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "tiny")
    lines = (folder / "corpus.jsonl").read_text().splitlines()
    lines[2] = '{"_id": "d3", "title": "Coffee", "text": "unterminated'
    (folder / "corpus.jsonl").write_text("\n".join(lines) + "\n")

    with pytest.raises(DatasetError, match=r"corpus.jsonl:3: malformed JSON"):
        load_dataset(folder)


def test_a_record_without_text_is_reported_with_its_line(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "tiny")
    (folder / "queries.jsonl").write_text('{"_id": "q1", "text": "fine"}\n\n{"_id": "q2"}\n')

    with pytest.raises(DatasetError, match=r"queries.jsonl:3: missing or empty 'text'"):
        load_dataset(folder)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("q9\td1\t1", r"qrels.tsv:3: query id 'q9' is not in queries.jsonl"),
        ("q1\td9\t1", r"qrels.tsv:3: corpus id 'd9' is not in corpus.jsonl"),
        ("q1\td1\thigh", r"qrels.tsv:3: score 'high' is not an integer"),
        ("q1 d1 1", r"qrels.tsv:3: expected 3 tab-separated columns"),
    ],
)
def test_bad_qrels_rows_are_reported_with_their_line(tmp_path: Path, row: str, message: str) -> None:
    folder = write_beir(tmp_path / "tiny")
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t1\n" + row + "\n")

    with pytest.raises(DatasetError, match=message):
        load_dataset(folder)


def test_an_empty_dataset_is_refused(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "tiny")
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t0\n")
    with pytest.raises(DatasetError, match="no query has a positive relevance judgement"):
        load_dataset(folder)

    (folder / "corpus.jsonl").write_text("\n")
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\n")
    with pytest.raises(DatasetError, match=r"corpus\.jsonl: no documents"):
        load_dataset(folder)


def test_missing_paths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file or directory"):
        load_dataset(tmp_path / "nothing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="not a dataset"):
        load_dataset(tmp_path / "empty")


def test_project_yaml_with_documents_and_references(tmp_path: Path) -> None:
    dataset = load_dataset(write_project(tmp_path / "proj"))

    assert (dataset.name, dataset.format) == ("tiny-project", "project")
    assert [doc.id for doc in dataset.docs] == ["pricing", "schedule"]
    price, live = dataset.questions
    assert price.reference_answer == "18,500 euros plus VAT."
    assert dict(price.relevant) == {"pricing": 1}
    assert live.reference_contexts == ("the shop goes live on April 30",)
    assert dict(live.relevant) == {}


def test_project_files_report_bad_questions_with_their_line(tmp_path: Path) -> None:
    path = write_project(tmp_path / "proj")
    path.write_text(path.read_text().replace("    question: When does the shop go live?\n", ""))
    with pytest.raises(DatasetError, match=r"questions.yaml:16: missing or empty 'question'"):
        load_dataset(path)

    path.write_text("questions:\n  - question: [unclosed\n")
    with pytest.raises(DatasetError, match=r"questions.yaml:3: malformed YAML"):
        load_dataset(path)

    jsonl = tmp_path / "proj" / "set.jsonl"
    (tmp_path / "proj" / "documents").mkdir()
    (tmp_path / "proj" / "documents" / "notes.md").write_text("Launch on April 30.")
    jsonl.write_text('{"question": "When?"}\n{"question": "Which doc?", "reference_documents": ["x.md"]}\n')
    with pytest.raises(DatasetError, match=r"set.jsonl:2: reference_documents x.md are not documents"):
        load_dataset(jsonl)
    jsonl.write_text('{"question": "When?"}\n{"question": \n')
    with pytest.raises(DatasetError, match=r"set.jsonl:2: malformed JSON"):
        load_dataset(jsonl)


def test_qmsum_meetings_become_transcripts_with_answer_spans(tmp_path: Path) -> None:
    write_meeting(tmp_path / "qm" / "val")

    dataset = load_dataset(tmp_path / "qm", "val")

    assert (dataset.name, dataset.split, dataset.format) == ("qm", "val", "qmsum")
    (meeting,) = dataset.docs
    assert meeting.is_transcript and meeting.turns[1][0] == "Designer"
    specific, general = dataset.questions
    assert specific.key == "M001/s0" and specific.scope == "M001"
    assert specific.relevant_turns == frozenset({1})
    assert specific.reference_contexts == (
        "Designer: I propose a rubber case in bright yellow with large buttons.",
    )
    assert general.reference_answer == "The team chose a yellow rubber case." and not general.relevant_turns


def test_qmsum_malformed_json_and_spans(tmp_path: Path) -> None:
    path = write_meeting(tmp_path / "qm")
    meeting = json.loads(path.read_text())
    meeting["specific_query_list"][0]["relevant_text_span"] = [["1", "9"]]
    path.write_text(json.dumps(meeting))
    with pytest.raises(DatasetError, match=r"span \['1', '9'\] is outside the 4 turns"):
        load_dataset(tmp_path / "qm")

    path.write_text('{\n"meeting_transcripts": [,\n')
    with pytest.raises(DatasetError, match=r"M001.json:2: malformed JSON"):
        load_dataset(tmp_path / "qm")


def test_hashes_follow_the_content_and_the_subset(tmp_path: Path) -> None:
    folder = write_beir(tmp_path / "tiny")
    first = load_dataset(folder)
    assert load_dataset(folder).content_hash == first.content_hash

    subset = first.subset_of(question_keys=["q2"], extra_documents=1, label="small")
    assert [doc.id for doc in subset.docs] == ["d1", "d5"]
    assert subset.corpus_hash != first.corpus_hash and subset.name == "tiny-small"

    (folder / "qrels.tsv").write_text(QRELS + "q1\td2\t1\n")
    changed = load_dataset(folder)
    assert changed.content_hash != first.content_hash
    assert changed.corpus_hash == first.corpus_hash  # same documents: the same eval project


def test_the_cli_reports_bad_datasets_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_beir(tmp_path / "tiny")
    (folder / "qrels.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tnope\t1\n")

    code = main(["eval", "retrieval", "--dataset", str(folder)])

    assert code == 2
    assert "qrels.tsv:2: corpus id 'nope' is not in corpus.jsonl" in capsys.readouterr().err
    assert (
        main(["eval", "answers", "--dataset", str(write_project(tmp_path / "p")), "--prompt", "answer@9"])
        == 2
    )
    assert "no prompt named 'answer@9'" in capsys.readouterr().err
