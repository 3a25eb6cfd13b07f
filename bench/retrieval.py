"""Retrieval quality (nDCG@10, recall@100, MRR@10) of vector, text and hybrid search on a BEIR dataset.

A fresh project on embedded PostgreSQL gets one chunk per BEIR document (`[title]` header + text, written by
ingestion.indexer.replace_chunks with the product's language detection, hashes and token counts); every
query then goes through the same HybridRetriever the API uses, in each mode. Passage and query embeddings
are cached under .v1tr0/bench-cache (the SciFact e5 passages take ~40 minutes once).

    python bench/retrieval.py --dataset ../shared/data/scifact [--split train] [--model e5|static]
        [--limit-queries N] [--rrf-k 10,20,60] [--convex 0.4,0.5] [--dbsf 0.5] [--sweep-text-candidates 30,50]
        [--bm25 0.9:0.4,1.5:0.75]
        [--json out.json]
    V1TR0_RETRIEVAL__LEXICAL=ts_rank python bench/retrieval.py ...   # the portable full-text ranking
    python bench/retrieval.py --dataset ../shared/data/xquad_es
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    MODELS,
    BeirSet,
    Doc,
    LookupEmbedder,
    cached_embeddings,
    create_database,
    embedded_services,
    index_documents,
    load_beir,
    make_embedder,
    median,
    percentile,
    write_json,
)

from core.models import Project
from core.settings import Settings
from retrieval import search as search_module
from retrieval.search import clean_query

TARGET_NDCG = 0.70
MODES = ("vector", "text", "hybrid")


# --------------------------------------------------------------------------------------------- metrics


def ndcg_at(ranked: list[str], relevant: set[str], k: int = 10) -> float:
    """Binary-gain nDCG@k (BEIR / pytrec_eval convention)."""
    dcg = sum(1.0 / math.log2(i + 2) for i, doc in enumerate(ranked[:k]) if doc in relevant)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(relevant), k)))
    return dcg / ideal if ideal else 0.0


def recall_at(ranked: list[str], relevant: set[str], k: int = 100) -> float:
    return len(set(ranked[:k]) & relevant) / len(relevant) if relevant else 0.0


def mrr_at(ranked: list[str], relevant: set[str], k: int = 10) -> float:
    for i, doc in enumerate(ranked[:k]):
        if doc in relevant:
            return 1.0 / (i + 1)
    return 0.0


@dataclass
class ModeResult:
    mode: str
    rrf_k: int
    candidates: int
    queries: int
    ndcg10: float
    recall100: float
    mrr10: float
    recall1: float
    p50_ms: float
    p95_ms: float
    max_df: float = field(default_factory=lambda: getattr(search_module, "MAX_LEXEME_DF", 1.0))
    fusion: str = "rrf"
    vector_weight: float = 0.5
    text_candidates: int = 100
    bm25: str = ""  # "k1/b" when the BM25 indexes were rebuilt with other parameters (--bm25)

    @property
    def fused(self) -> str:
        if self.fusion == "rrf":
            return f"rrf {self.rrf_k}"
        return f"{'cvx' if self.fusion == 'convex' else 'dbsf'} {self.vector_weight:g}"


@dataclass
class Report:
    dataset: str
    model: str
    documents: int
    queries: int
    load_seconds: float
    query_embedding_p50_ms: float
    lexical: str = ""
    results: list[ModeResult] = field(default_factory=list)
    sweep: list[ModeResult] = field(default_factory=list)


# --------------------------------------------------------------------------------------------- loading


async def load_corpus(resources: Any, data: BeirSet, embedder: LookupEmbedder) -> uuid.UUID:
    """One project, one chunk per document through ingestion.indexer.replace_chunks."""
    from core.vectors import register_model

    async with resources.sessionmaker() as session, session.begin():
        project = Project(title=f"bench {data.name}")
        session.add(project)
        await session.flush()
        await register_model(session, name=embedder.name, dimensions=embedder.dimensions)
        project_id = project.id
    await index_documents(resources, project_id, data.docs, embedder)
    return project_id


# --------------------------------------------------------------------------------------------- running


async def run_mode(
    resources: Any,
    *,
    project_id: uuid.UUID,
    embedder: LookupEmbedder,
    model: Any,
    config: Any,
    mode: str,
    queries: list[tuple[str, str]],
    qrels: dict[str, set[str]],
) -> ModeResult:
    from retrieval.retriever import HybridRetriever

    ndcg, recall, mrr, r1, times = [], [], [], [], []
    async with resources.sessionmaker() as session:
        for qid, text in queries:
            retriever = HybridRetriever(
                session=session,
                project_ids=[project_id],
                embedder=embedder,
                model=model,
                config=config,
                redis=None,
                mode=mode,  # type: ignore[arg-type]
                top_k=100,
            )
            started = time.perf_counter()
            hits = await retriever.search(text, limit=100, snippets=False)
            times.append((time.perf_counter() - started) * 1000)
            ranked = [str(hit.meta.get("beir_id")) for hit in hits]
            relevant = qrels[qid]
            ndcg.append(ndcg_at(ranked, relevant))
            recall.append(recall_at(ranked, relevant))
            mrr.append(mrr_at(ranked, relevant))
            r1.append(recall_at(ranked, relevant, 1))
    return ModeResult(
        mode,
        config.rrf_k,
        config.candidates,
        len(queries),
        float(np.mean(ndcg)),
        float(np.mean(recall)),
        float(np.mean(mrr)),
        float(np.mean(r1)),
        median(times),
        percentile(times, 95),
        fusion=config.fusion,
        vector_weight=config.vector_weight,
        text_candidates=config.text_candidates,
    )


def measure_query_embedding(model: str, texts: list[str], n: int = 30) -> float:
    """p50 of the real query embedder (threads=1, as the API process uses it)."""
    embedder = make_embedder(model, threads=1)
    times = []
    loop = asyncio.new_event_loop()
    try:
        for text in texts[:n]:
            started = time.perf_counter()
            loop.run_until_complete(embedder.embed_query(text))
            times.append((time.perf_counter() - started) * 1000)
    finally:
        loop.close()
    return median(times)


def partial_subset(data: BeirSet, model: str) -> BeirSet:
    """The documents a still-running (or interrupted) embedding run has finished, and the queries whose
    relevant documents are all among them. Smaller corpus, so easier: numbers are not comparable with a
    full run, only with each other."""
    vectors = cached_embeddings(model, [d.content for d in data.docs], partial_ok=True, cache_only=True)
    if vectors is None or len(vectors) == len(data.docs):
        return data
    docs = data.docs[: len(vectors)]
    kept = {d.id for d in docs}
    qrels = {q: rel for q, rel in data.qrels.items() if rel <= kept}
    queries = {q: t for q, t in data.queries.items() if q in qrels}
    name = f"{data.name} PARTIAL: first {len(docs):,} of {len(data.docs):,} documents"
    return BeirSet(name, docs, queries, qrels)


def embed_all(
    model: str, data: BeirSet, query_texts: list[str], *, all_docs: list[Doc] | None = None
) -> LookupEmbedder:
    """Passage and query vectors (cached on disk) behind the LookupEmbedder the bench hands the product.
    All of the dataset's queries are embedded (one cache whatever --limit-queries or --partial pick).
    With `all_docs` (a partial run), the cache of the whole corpus is read as far as it goes."""
    corpus = all_docs or data.docs
    passages = cached_embeddings(
        model, [d.content for d in corpus], label=data.name, partial_ok=bool(all_docs)
    )
    assert passages is not None
    passages = passages[: len(data.docs)]
    # The retriever embeds the cleaned query (whitespace collapsed), so that is what is embedded here too.
    texts = [clean_query(t) for t in query_texts]
    qvectors = cached_embeddings(model, texts, kind="query", threads=1, label="queries")
    lookup: dict[str, list[float]] = {d.content: v.tolist() for d, v in zip(data.docs, passages, strict=True)}
    lookup.update({t: v.tolist() for t, v in zip(texts, qvectors, strict=True)})
    return LookupEmbedder(MODELS[model], int(passages.shape[1]), lookup)


async def evaluate(
    args: argparse.Namespace,
    settings: Settings,
    data: BeirSet,
    embedder: LookupEmbedder,
    queries: list[tuple[str, str]],
    report: Report,
) -> None:
    from api.resources import Resources
    from retrieval.lexical import active_lexical
    from retrieval.retriever import current_model

    resources = Resources.open(settings)
    try:
        started = time.perf_counter()
        project_id = await load_corpus(resources, data, embedder)
        report.load_seconds = time.perf_counter() - started
        async with resources.sessionmaker() as session:
            model = await current_model(session)
        report.lexical = await active_lexical(resources.engine, settings.retrieval.lexical)
        base = settings.retrieval
        modes = [m for m in MODES if m in args.modes.split(",")]
        for mode in modes:
            result = await run_mode(
                resources, project_id=project_id, embedder=embedder, model=model, config=base,
                mode=mode, queries=queries, qrels=data.qrels,
            )  # fmt: skip
            report.results.append(result)
            print(f"  {mode:<7} nDCG@10 {result.ndcg10:.4f}", flush=True)
        for max_df in [float(x) for x in args.max_df.split(",") if x] if args.max_df else []:
            # retrieval.search reads MAX_LEXEME_DF per call; 1.0 turns the common-lexeme pruning off.
            default_df = search_module.MAX_LEXEME_DF
            search_module.MAX_LEXEME_DF = max_df
            try:
                for mode in [m for m in ("text", "hybrid") if m in modes]:
                    result = await run_mode(
                        resources, project_id=project_id, embedder=embedder, model=model, config=base,
                        mode=mode, queries=queries, qrels=data.qrels,
                    )  # fmt: skip
                    result.max_df = max_df
                    report.sweep.append(result)
                    print(f"  {mode} max_df={max_df} nDCG@10 {result.ndcg10:.4f}", flush=True)
            finally:
                search_module.MAX_LEXEME_DF = default_df
        # One setting changed at a time (a convex weight switches the fusion to convex). Vector candidates
        # below the page (limit=100 here) are raised to it; full-text candidates are not (in hybrid).
        changes: list[dict[str, Any]] = [{"fusion": "rrf", "rrf_k": k} for k in _numbers(args.rrf_k, int)]
        changes += [{"fusion": "convex", "vector_weight": w} for w in _numbers(args.convex, float)]
        changes += [{"fusion": "dbsf", "vector_weight": w} for w in _numbers(args.dbsf, float)]
        changes += [{"candidates": c} for c in _numbers(args.sweep_candidates, int)]
        changes += [{"text_candidates": c} for c in _numbers(args.sweep_text_candidates, int)]
        changes += [
            {"fusion": "convex", "vector_weight": w, "text_candidates": c}
            for w in _numbers(args.convex, float)
            for c in _numbers(args.sweep_text_candidates, int)
        ]
        for change in changes:
            config = base.model_copy(update=change)
            result = await run_mode(
                resources, project_id=project_id, embedder=embedder, model=model, config=config,
                mode="hybrid", queries=queries, qrels=data.qrels,
            )  # fmt: skip
            report.sweep.append(result)
            print(f"  hybrid {change} nDCG@10 {result.ndcg10:.4f}", flush=True)
        for k1, b in _pairs(args.bm25):
            await rebuild_bm25(resources, k1=k1, b=b)
            for mode in [m for m in ("text", "hybrid") if m in modes]:
                result = await run_mode(
                    resources, project_id=project_id, embedder=embedder, model=model, config=base,
                    mode=mode, queries=queries, qrels=data.qrels,
                )  # fmt: skip
                result.bm25 = f"{k1:g}/{b:g}"
                report.sweep.append(result)
                print(f"  {mode} bm25 k1={k1:g} b={b:g} nDCG@10 {result.ndcg10:.4f}", flush=True)
    finally:
        await resources.close()


def _pairs(text: str) -> list[tuple[float, float]]:
    """ "0.9:0.4,1.2:0.75" -> [(0.9, 0.4), (1.2, 0.75)]."""
    return [(float(k1), float(b)) for k1, b in (pair.split(":") for pair in text.split(",") if pair)]


async def rebuild_bm25(resources: Any, *, k1: float, b: float) -> None:
    """The BM25 indexes built again with these k1 and b (pg_textsearch fixes them at build time; the
    scope way reads them back from bm25_summarize_index, so both ways use them)."""
    import sqlalchemy as sa

    from retrieval.lexical import BM25_INDEXES, LANGUAGES

    configs = {column: config for config, column in LANGUAGES.values()}
    async with resources.engine.begin() as conn:
        for column, name in BM25_INDEXES.items():
            await conn.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))
            await conn.execute(
                sa.text(
                    f"CREATE INDEX {name} ON chunks USING bm25 ({column}) "
                    f"WITH (text_config = '{configs[column]}', k1 = {float(k1)}, b = {float(b)})"
                )
            )


# --------------------------------------------------------------------------------------------- report


def _numbers(text: str, kind: type[Any]) -> list[Any]:
    return [kind(x) for x in text.split(",") if x] if text else []


def print_table(title: str, rows: list[ModeResult], baselines: dict[str, ModeResult] | None = None) -> None:
    """One row per run; with `baselines`, the nDCG@10 change against the default run of the same mode."""
    print(title)
    header = (
        f"{'mode':<7} {'fusion':>8} {'cands':>5} {'text':>5} {'max_df':>6} {'k1/b':>8} {'queries':>7} "
        f"{'nDCG@10':>8} "
        f"{'R@100':>7} {'MRR@10':>7} "
        f"{'R@1':>6} {'p50 ms':>7} {'p95 ms':>7}" + ("  vs default" if baselines else "")
    )
    print(header)
    print("-" * len(header))
    for r in rows:
        base = (baselines or {}).get(r.mode)
        delta = f"  {r.ndcg10 - base.ndcg10:+.4f}" if base else ""
        print(
            f"{r.mode:<7} {r.fused:>8} {r.candidates:>5} {r.text_candidates:>5} {r.max_df:>6g} "
            f"{r.bm25 or '-':>8} {r.queries:>7} {r.ndcg10:>8.4f} "
            f"{r.recall100:>7.4f} "
            f"{r.mrr10:>7.4f} {r.recall1:>6.3f} {r.p50_ms:>7.2f} {r.p95_ms:>7.2f}{delta}"
        )


def print_report(report: Report) -> None:
    print()
    print(
        f"dataset {report.dataset}: {report.documents:,} documents, {report.queries:,} queries; "
        f"model {report.model}; corpus loaded through replace_chunks in {report.load_seconds:.1f} s"
    )
    print(f"full-text ranking: {report.lexical}")
    print("latency: HybridRetriever.search(limit=100, snippets=False) with the query vector precomputed")
    print(f"query embedding p50 (real model, 1 thread): {report.query_embedding_p50_ms:.1f} ms")
    print()
    print_table("through HybridRetriever, default settings:", report.results)
    by_mode = {r.mode: r for r in report.results}
    if "hybrid" in by_mode:
        hybrid = by_mode["hybrid"]
        for other in ("vector", "text"):
            if other in by_mode and by_mode[other].ndcg10:
                print(f"hybrid / {other} nDCG@10: {hybrid.ndcg10 / by_mode[other].ndcg10:.3f}")
        print(f"hybrid nDCG@10 / target {TARGET_NDCG}: {hybrid.ndcg10 / TARGET_NDCG:.3f}")
    if report.sweep:
        print()
        print_table("sweep (one setting changed from the default):", report.sweep, by_mode)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", type=Path, required=True, help="a BEIR folder")
    parser.add_argument("--split", default=None, help="queries_SPLIT.jsonl / qrels_SPLIT.tsv (default train)")
    parser.add_argument("--model", choices=sorted(MODELS), default="e5")
    parser.add_argument("--limit-queries", type=int, default=0, metavar="N", help="first N judged queries")
    parser.add_argument("--modes", default=",".join(MODES), help="comma separated: vector,text,hybrid")
    parser.add_argument(
        "--rrf-k", default="", help="also run hybrid with these RRF constants (e.g. 10,30,60)"
    )
    parser.add_argument("--max-df", default="", help="also run text and hybrid with these MAX_LEXEME_DF")
    parser.add_argument(
        "--convex", default="", help="also run hybrid with convex fusion, these vector weights"
    )
    parser.add_argument(
        "--dbsf", default="", help="also run hybrid with distribution-based fusion, these vector weights"
    )
    parser.add_argument(
        "--sweep-candidates", default="", help="also run hybrid with these vector candidates (>= 100)"
    )
    parser.add_argument(
        "--sweep-text-candidates",
        default="",
        help="also run hybrid with these full-text candidates (alone, and with each --convex weight)",
    )
    parser.add_argument(
        "--bm25",
        default="",
        help="also run text and hybrid with the BM25 indexes rebuilt with these k1:b pairs (e.g. 0.9:0.4)",
    )
    parser.add_argument(
        "--partial",
        action="store_true",
        help="use what an unfinished embedding run cached: that part of the corpus and the queries it covers",
    )
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    split = args.split
    if split is None and (args.dataset / "queries_train.jsonl").exists():
        split = "train"
    full = load_beir(args.dataset, split)
    data = partial_subset(full, args.model) if args.partial else full
    queries = list(data.queries.items())
    if args.limit_queries:
        queries = queries[: args.limit_queries]
    embedder = embed_all(
        args.model, data, list(full.queries.values()), all_docs=full.docs if data is not full else None
    )
    report = Report(data.name, MODELS[args.model], len(data.docs), len(queries), 0.0, 0.0)
    with embedded_services("bench-retrieval") as (services, workdir):
        database_url = create_database(services.database_url, "v1tr0_bench_retrieval")
        settings = Settings(
            environment="test",
            database_url=database_url,
            redis_url=services.redis_url,
            data_dir=workdir / "app",
            log={"level": "WARNING"},
            embedding={"provider": args.model},
        )
        try:
            asyncio.run(evaluate(args, settings, data, embedder, queries, report))
        except KeyboardInterrupt:
            print("\ninterrupted: stopping everything the bench started", file=sys.stderr)
            return 130
    report.query_embedding_p50_ms = measure_query_embedding(args.model, list(data.queries.values()))
    print_report(report)
    write_json(args.json, asdict(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
