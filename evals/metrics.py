"""Metric arithmetic with no I/O: ranking metrics (BEIR conventions), key-term recall, aggregation."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from core.text import content_terms

RECALL_CUTOFFS = (1, 5, 10, 100)


def rank_documents(chunk_doc_ids: Iterable[str]) -> list[str]:
    """Documents in the order of their best chunk (a document's later chunks do not count again)."""
    seen: dict[str, None] = {}
    for doc_id in chunk_doc_ids:
        seen.setdefault(doc_id, None)
    return list(seen)


def ndcg_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int = 10) -> float:
    """nDCG@k with linear gains (the relevance grade), as pytrec_eval computes it for BEIR."""
    dcg = sum(relevant.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked[:k]))
    ideal_gains = sorted((grade for grade in relevant.values() if grade > 0), reverse=True)[:k]
    ideal = sum(grade / math.log2(i + 2) for i, grade in enumerate(ideal_gains))
    return dcg / ideal if ideal else 0.0


def recall_at(ranked: Sequence[str], relevant: Mapping[str, int], k: int) -> float:
    wanted = {doc for doc, grade in relevant.items() if grade > 0}
    return len(wanted & set(ranked[:k])) / len(wanted) if wanted else 0.0


def reciprocal_rank(ranked: Sequence[str], relevant: Mapping[str, int]) -> float:
    for i, doc in enumerate(ranked):
        if relevant.get(doc, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def ranking_metrics(ranked: Sequence[str], relevant: Mapping[str, int]) -> dict[str, float]:
    metrics = {"ndcg@10": ndcg_at(ranked, relevant, 10), "mrr": reciprocal_rank(ranked, relevant)}
    for k in RECALL_CUTOFFS:
        metrics[f"recall@{k}"] = recall_at(ranked, relevant, k)
    return metrics


def key_terms(text: str) -> set[str]:
    """Content words (stopwords out, accents folded, cut to a 5-letter stem), as the answerer sees them."""
    return set(content_terms(text))


def key_term_recall(reference: str, contexts: Sequence[str]) -> float | None:
    """Share of the reference answer's key terms found anywhere in the retrieved contexts."""
    wanted = key_terms(reference)
    if not wanted:
        return None
    found = set().union(*(key_terms(context) for context in contexts)) if contexts else set()
    return len(wanted & found) / len(wanted)


def span_recall(relevant_turns: Iterable[int], retrieved_turns: Iterable[int]) -> float | None:
    """Share of the turns that hold the answer that some retrieved chunk contains."""
    wanted = set(relevant_turns)
    if not wanted:
        return None
    return len(wanted & set(retrieved_turns)) / len(wanted)


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return sum(x * y for x, y in zip(a, b, strict=True)) / norm if norm else 0.0


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float | None]:
    return {
        "latency_p50_ms": percentile(latencies_ms, 50),
        "latency_p95_ms": percentile(latencies_ms, 95),
        "latency_p99_ms": percentile(latencies_ms, 99),
    }


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def mean_metrics(per_item: Iterable[Mapping[str, object]]) -> dict[str, float]:
    """The mean of each metric over the items that have it (a metric an item lacks, or NaN, is skipped)."""
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for metrics in per_item:
        for name, value in metrics.items():
            if is_number(value):
                sums[name] = sums.get(name, 0.0) + float(value)  # type: ignore[arg-type]
                counts[name] = counts.get(name, 0) + 1
    return {name: sums[name] / counts[name] for name in sorted(sums)}
