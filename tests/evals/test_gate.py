"""The smoke gate's threshold check, its fixed subsets, and the dataset allow-list of the API."""

from __future__ import annotations

from pathlib import Path

import pytest

from evals.catalog import available_datasets, resolve_dataset
from evals.loaders import DatasetError
from evals.smoke import (
    QMSUM_MEETINGS,
    SCIFACT_QUERIES,
    check_thresholds,
    load_thresholds,
    meetings_gate,
    meetings_gates,
    smoke_gates,
)
from tests.evals.helpers import write_beir, write_meeting, write_project


def test_a_metric_below_its_minimum_or_missing_fails_the_gate() -> None:
    measured = {"scifact": {"ndcg@10": 0.5}, "qmsum": {"key_term_recall": 0.4}}
    thresholds = {"scifact": {"ndcg@10": 0.46}, "qmsum": {"key_term_recall": 0.55, "span_recall": 0.1}}

    checks = check_thresholds(measured, thresholds)

    assert [(c.gate, c.metric, c.ok) for c in checks] == [
        ("scifact", "ndcg@10", True),
        ("qmsum", "key_term_recall", False),
        ("qmsum", "span_recall", False),
    ]
    assert checks[2].measured is None


def test_the_checked_in_thresholds_and_subsets() -> None:
    thresholds = load_thresholds()
    assert set(thresholds) == {"scifact", "qmsum", "meetings", "meetings_b"}
    assert all(
        0 < minimum <= 1 for section in ("meetings", "meetings_b") for minimum in thresholds[section].values()
    )
    assert set(thresholds["meetings_b"]) == set(thresholds["meetings"])
    meetings = meetings_gate()
    assert meetings.split == "dev" and len(meetings.questions) >= 60 and meetings.commitments
    both = meetings_gates(thresholds)
    assert set(both) == {"meetings", "meetings_b"} and both["meetings"].questions == meetings.questions
    assert both["meetings_b"].split == "dev" and len(both["meetings_b"].questions) >= 40
    assert meetings_gates(["scifact"]) == {}
    assert 0 < thresholds["scifact"]["ndcg@10"] < 1 and 0 < thresholds["qmsum"]["key_term_recall"] < 1
    scifact, qmsum = smoke_gates()
    assert len(scifact.dataset.questions) == SCIFACT_QUERIES
    relevant = {doc for q in scifact.dataset.questions for doc in q.relevant}
    assert relevant <= {doc.id for doc in scifact.dataset.docs}
    assert {doc.id for doc in qmsum.dataset.docs} == set(QMSUM_MEETINGS)
    assert scifact.dataset.corpus_hash == smoke_gates()[0].dataset.corpus_hash  # fixed: the corpus is reused


def test_requests_can_only_name_datasets_under_the_data_roots(tmp_path: Path) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    write_beir(first / "tiny")
    write_project(first / "handmade")
    write_meeting(second / "meetings" / "val")
    (second / "tiny").mkdir()
    (second / "notes").mkdir()

    found = available_datasets([first, second])

    assert found == {"handmade": first / "handmade", "meetings": second / "meetings", "tiny": first / "tiny"}
    assert resolve_dataset("tiny", [first, second]) == first / "tiny"
    with pytest.raises(DatasetError, match=r"unknown dataset '\.\./a/tiny'"):
        resolve_dataset("../a/tiny", [first, second])
