"""Metric arithmetic on hand-made cases."""

from __future__ import annotations

import math

import pytest

from evals.metrics import (
    cosine,
    key_term_recall,
    latency_summary,
    mean_metrics,
    ndcg_at,
    rank_documents,
    ranking_metrics,
    recall_at,
    reciprocal_rank,
    span_recall,
)
from evals.scoring import passage_match, plain_answer


def test_ndcg_binary_and_graded() -> None:
    assert ndcg_at(["a", "b"], {"a": 1}) == 1.0
    # The one relevant document at rank 2: 1/log2(3).
    assert ndcg_at(["x", "a"], {"a": 1}) == pytest.approx(1 / math.log2(3))
    # Two relevant, found at ranks 1 and 3: (1 + 1/2) / (1 + 1/log2(3)).
    assert ndcg_at(["a", "x", "b"], {"a": 1, "b": 1}) == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    # Graded: the better document second costs more than the weaker one second.
    assert ndcg_at(["b", "a"], {"a": 2, "b": 1}) == pytest.approx(
        (1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3))
    )
    assert ndcg_at(["x"] * 10 + ["a"], {"a": 1}) == 0.0  # below the cut-off
    assert ndcg_at(["a"], {}) == 0.0


def test_recall_and_reciprocal_rank() -> None:
    ranked = ["x", "a", "y", "b"]
    relevant = {"a": 1, "b": 1, "c": 1}
    assert recall_at(ranked, relevant, 1) == 0.0
    assert recall_at(ranked, relevant, 2) == pytest.approx(1 / 3)
    assert recall_at(ranked, relevant, 100) == pytest.approx(2 / 3)
    assert reciprocal_rank(ranked, relevant) == 0.5
    assert reciprocal_rank(["x"], relevant) == 0.0
    assert set(ranking_metrics(ranked, relevant)) == {
        "ndcg@10", "mrr", "recall@1", "recall@5", "recall@10", "recall@100"
    }  # fmt: skip


def test_documents_rank_by_their_best_chunk() -> None:
    assert rank_documents(["d2", "d1", "d2", "d3", "d1"]) == ["d2", "d1", "d3"]


def test_key_term_recall_counts_stems_and_ignores_stopwords() -> None:
    reference = "The team chose the yellow rubber cases"
    # 5-letter stems: "chosen" matches "chose", "cases" does not match "case".
    assert key_term_recall(reference, ["cases of yellow rubber", "chosen by the team"]) == 1.0
    singular = ["a case of yellow rubber", "chosen by the team"]
    assert key_term_recall(reference, singular) == pytest.approx(4 / 5)
    assert key_term_recall(reference, ["yellow"]) == pytest.approx(1 / 5)
    assert key_term_recall(reference, []) == 0.0
    assert key_term_recall("the of and", ["anything"]) is None


def test_span_recall() -> None:
    assert span_recall({3, 4, 5, 6}, [1, 4, 5]) == 0.5
    assert span_recall(set(), [1]) is None


def test_cosine_and_latency_percentiles() -> None:
    assert cosine([1, 0], [1, 0]) == 1.0
    assert cosine([1, 0], [0, 2]) == 0.0
    assert cosine([0, 0], [1, 1]) == 0.0
    summary = latency_summary([float(n) for n in range(1, 101)])
    assert summary == {"latency_p50_ms": 50.0, "latency_p95_ms": 95.0, "latency_p99_ms": 99.0}
    assert latency_summary([])["latency_p50_ms"] is None


def test_means_skip_missing_and_nan_values() -> None:
    means = mean_metrics([{"a": 1.0, "b": None}, {"a": 0.0, "b": 0.5}, {"a": math.nan, "c": True}])
    assert means == {"a": 0.5, "b": 0.5}


def test_passage_match_finds_a_sentence_inside_a_chunk() -> None:
    chunk = (
        "[Pricing]\nThe fixed price is 18,500 euros plus VAT, paid in three instalments. Support is extra."
    )
    assert passage_match("the fixed price is 18,500 euros plus VAT", chunk) == 1.0
    assert passage_match("the launch is on April 30", chunk) < 0.8
    assert passage_match("", chunk) == 0.0


def test_citation_markers_are_not_part_of_the_answer() -> None:
    assert (
        plain_answer("It costs 18,500 euros [1]. It ships in April [2][3].")
        == "It costs 18,500 euros . It ships in April ."
    )
