"""Fusion ideas on a BEIR set in seconds, without the database: an offline copy of the product's two
rankings, then the product's convex fusion and variants of it, nDCG@10 each.

- Vector side: cosine over the vectors bench/retrieval.py cached (.v1tr0/bench-cache; run it once with
  the same --model, which embeds the corpus and the queries).
- Full-text side: BM25 in Python (k1 1.2, b 0.75) over the accent-folded text, with PostgreSQL's
  english stop words and the Snowball stemmer its `english` configuration uses (PyStemmer), so it tracks
  pg_textsearch's ranking closely (SciFact train: 0.694 here, 0.696 in the product) but not exactly.
- Fusion: min-max normalised scores of each side's top 100, weighted (retrieval.search's convex).

Variants (SciFact train, e5, measured 2026-12-07, docs/evals.md "Session 9"): vector pseudo-relevance
feedback, per-query weights, RM3 expansion of the BM25 query. None of them moved the hybrid by more than
0.003; this script is where the next idea gets its first number before it is built.

    python bench/fusion_offline.py --dataset ../shared/data/scifact --split train [--model e5]
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
import Stemmer

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import cached_embeddings, load_beir

from retrieval.lexical import fold_accents
from retrieval.search import clean_query

STOPWORDS = Path(__file__).resolve().parents[1] / "retrieval" / "stopwords" / "english.stop"
K1, B = 1.2, 0.75
CANDIDATES = 100  # per side, as the product's vector and full-text candidates
VECTOR_WEIGHT = 0.5  # the product's default


class Bm25:
    def __init__(self, texts: list[str]) -> None:
        self.stem = Stemmer.Stemmer("english")
        self.stop = set(STOPWORDS.read_text(encoding="utf-8").split())
        self.docs = [Counter(self.tokens(text)) for text in texts]
        self.lengths = np.array([sum(doc.values()) for doc in self.docs], dtype=float)
        self.average = float(self.lengths.mean())
        self.df = Counter(word for doc in self.docs for word in doc)
        self.postings: dict[str, list[tuple[int, int]]] = defaultdict(list)
        for i, doc in enumerate(self.docs):
            for word, tf in doc.items():
                self.postings[word].append((i, tf))

    def tokens(self, text: str) -> list[str]:
        words = re.findall(r"[a-z0-9]+", fold_accents(text).lower())
        return [self.stem.stemWord(word) for word in words if word not in self.stop]

    def idf(self, word: str) -> float:
        n, df = len(self.docs), self.df[word]
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def scores(self, weights: dict[str, float]) -> np.ndarray:
        out = np.zeros(len(self.docs))
        for word, qf in weights.items():
            idf = self.idf(word)
            for i, tf in self.postings.get(word, ()):
                norm = K1 * (1 - B + B * self.lengths[i] / self.average)
                out[i] += qf * idf * tf * (K1 + 1) / (tf + norm)
        return out


def top(scores: np.ndarray, k: int) -> np.ndarray:
    k = min(k, len(scores) - 1)
    idx = np.argpartition(-scores, k)[:k]
    return idx[np.argsort(-scores[idx])]


def convex(vector: np.ndarray, text: np.ndarray, weight: float = VECTOR_WEIGHT) -> list[int]:
    def normalised(scores: np.ndarray, ids: Iterable[int]) -> dict[int, float]:
        ids = list(ids)
        if not ids:
            return {}
        low, high = scores[ids].min(), scores[ids].max()
        return {i: (scores[i] - low) / (high - low) if high > low else 1.0 for i in ids}

    by_vector = normalised(vector, top(vector, CANDIDATES))
    by_text = normalised(text, [i for i in top(text, CANDIDATES) if text[i] > 0])
    fused = {
        i: weight * by_vector.get(i, 0.0) + (1 - weight) * by_text.get(i, 0.0)
        for i in by_vector.keys() | by_text.keys()
    }
    return sorted(fused, key=lambda i: (-fused[i], i))


def ndcg10(ranked: Iterable[int], relevant: set[int]) -> float:
    dcg = sum(1 / math.log2(rank + 2) for rank, i in enumerate(list(ranked)[:10]) if i in relevant)
    ideal = sum(1 / math.log2(rank + 2) for rank in range(min(len(relevant), 10)))
    return dcg / ideal if ideal else 0.0


def variants(
    passages: np.ndarray, bm25: Bm25
) -> dict[str, Callable[[np.ndarray, str, np.ndarray, list[int]], list[int]]]:
    """name -> f(query vector, query text, BM25 scores, first-pass hybrid ranking) -> ranking."""

    def prf(k: int, beta: float) -> Callable[..., list[int]]:
        def run(qv: np.ndarray, _text: str, text: np.ndarray, first: list[int]) -> list[int]:
            moved = qv + beta * passages[first[:k]].mean(axis=0)
            return convex(passages @ (moved / np.linalg.norm(moved)), text)

        return run

    def per_query(qv: np.ndarray, _text: str, text: np.ndarray, _first: list[int]) -> list[int]:
        vector = passages @ qv

        def peak(scores: np.ndarray) -> float:
            ranked = np.sort(scores)[::-1]
            spread = ranked[0] - ranked[CANDIDATES - 1]
            return float((ranked[0] - ranked[9]) / spread) if ranked[0] > 0 and spread > 0 else 0.0

        weight = min(max(0.5 + (peak(vector) - peak(text)) / 2, 0.2), 0.8)
        return convex(vector, text, weight)

    def rm3(k: int, terms: int, keep: float) -> Callable[..., list[int]]:
        def run(qv: np.ndarray, query: str, _text: np.ndarray, first: list[int]) -> list[int]:
            asked = Counter(bm25.tokens(query))
            feedback: Counter[str] = Counter()
            for i in first[:k]:
                total = sum(bm25.docs[i].values()) or 1
                for word, tf in bm25.docs[i].items():
                    feedback[word] += tf / total / k * bm25.idf(word)
            expansion = dict(feedback.most_common(terms))
            size, mass = sum(asked.values()), sum(expansion.values()) or 1.0
            weights = {
                word: keep * asked.get(word, 0) + (1 - keep) * expansion.get(word, 0.0) / mass * size
                for word in asked.keys() | expansion.keys()
            }
            return convex(passages @ qv, bm25.scores(weights))

        return run

    found: dict[str, Callable[..., list[int]]] = {
        "convex 0.4": lambda qv, _q, text, _f: convex(passages @ qv, text, 0.4),
        "convex 0.6": lambda qv, _q, text, _f: convex(passages @ qv, text, 0.6),
        "per-query weights": per_query,
    }
    for k in (3, 5, 10):
        for beta in (0.3, 0.5, 1.0):
            found[f"vector PRF k{k} beta {beta}"] = prf(k, beta)
    for k, terms, keep in ((5, 10, 0.5), (10, 20, 0.5)):
        found[f"RM3 k{k} {terms} terms keep {keep}"] = rm3(k, terms, keep)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--split", default=None)
    parser.add_argument("--model", default="e5")
    args = parser.parse_args(argv)

    data = load_beir(args.dataset, args.split)
    texts = [doc.content for doc in data.docs]
    queries = list(data.queries.items())
    passages = cached_embeddings(args.model, texts, cache_only=True)
    qvectors = cached_embeddings(
        args.model, [clean_query(text) for _, text in queries], kind="query", cache_only=True
    )
    if passages is None or qvectors is None:
        print(f"no cached {args.model} vectors: run bench/retrieval.py on it first", file=sys.stderr)
        return 2
    passages = passages / np.linalg.norm(passages, axis=1, keepdims=True)
    qvectors = qvectors / np.linalg.norm(qvectors, axis=1, keepdims=True)
    bm25 = Bm25(texts)
    position = {doc.id: i for i, doc in enumerate(data.docs)}
    ways = variants(passages, bm25)
    results: dict[str, list[float]] = defaultdict(list)
    for qi, (qid, query) in enumerate(queries):
        relevant = {position[d] for d in data.qrels[qid] if d in position}
        vector, text = passages @ qvectors[qi], bm25.scores(dict(Counter(bm25.tokens(query))))
        first = convex(vector, text)
        results["vector alone"].append(ndcg10(top(vector, 10), relevant))
        results["BM25 alone"].append(ndcg10(top(text, 10), relevant))
        results["hybrid, convex 0.5 (the product's)"].append(ndcg10(first, relevant))
        for name, way in ways.items():
            results[name].append(ndcg10(way(qvectors[qi], query, text, first), relevant))
    base = float(np.mean(results["hybrid, convex 0.5 (the product's)"]))
    print(f"{data.name}: {len(data.docs):,} documents, {len(queries):,} queries, {args.model}")
    for name, values in results.items():
        mean = float(np.mean(values))
        print(f"  {name:40s} nDCG@10 {mean:.4f}  ({mean - base:+.4f} against the hybrid)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
