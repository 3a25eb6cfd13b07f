"""Latency of GET /api/v1/ai/search/{project_id} (one uvicorn worker) vs the bare SQL + query embedding.

Self-contained: embedded PostgreSQL + Redis under a temp dir, >= 100,000 chunks spread over ~50 projects
(text recombined from SciFact and XQuAD-es sentences; vectors from the static model, or for e5 mixtures of
the cached e5 vectors of the source abstracts plus noise, or random unit vectors when that cache is
missing), written with COPY, then the HNSW index built. Each measured query is new to both paths: the
API (auth, access check, Redis query-embedding cache miss, search_diverse, snippets, JSON) and, in this
process, the bare path (the model's embed_query + the same search_chunks and page diversification).
A second pass repeats the queries, so the API hits its Redis embedding cache and the bare path runs the
SQL alone. A third runs the full-text side alone (mode=text) with the active ranking and, when that is BM25,
with the portable ts_rank as the baseline of the same run.

    python bench/search.py [--chunks 100000] [--projects 50] [--model e5|static] [--requests 300]
        [--data ../shared/data] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import re
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
    ROOT,
    UNLIMITED,
    cached_embeddings,
    create_database,
    embedded_services,
    load_beir,
    make_embedder,
    median,
    percentile,
    serve,
    write_json,
)

from core.db import libpq_url
from core.settings import Settings

DATA = ROOT.parent / "shared" / "data"  # --data: a git worktree's parent has no shared/ beside it
SECRET = "bench-secret-key-that-is-long-enough-for-hs256-0123456789"  # noqa: S105 - throwaway
TARGET_RATIO = 1.5
TARGET_LEXICAL_MS = 5.0
SOURCE_TYPES = {"document": 5, "transcript": 3, "summary": 1, "chat": 1}
_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-ZÁÉÍÓÚÑ¿¡])")


# --------------------------------------------------------------------------------------------- corpus


@dataclass
class Sentence:
    text: str
    doc: int  # index into the combined corpus (for the vector mixture)
    title: str


def sentences_of(docs: list[Any], offset: int) -> list[Sentence]:
    out = []
    for i, doc in enumerate(docs):
        for piece in _SENTENCE.split(doc.text):
            piece = piece.strip()
            if 20 <= len(piece) <= 500:
                out.append(Sentence(piece, offset + i, doc.title.replace("_", " ")))
    return out


@dataclass
class Corpus:
    rows: list[tuple[Any, ...]]
    vectors: np.ndarray
    project_ids: list[uuid.UUID]
    vector_source: str


def synthesise(args: argparse.Namespace, rng: random.Random) -> Corpus:
    """Chunks of 3-8 sentences of one language, grouped into artifacts of 1-12 chunks, over the projects."""
    from core.tokens import encoding
    from ingestion.chunkers import content_hash, detect_language

    scifact = load_beir(DATA / "scifact", "train").docs
    xquad = load_beir(DATA / "xquad_es").docs
    base = _e5_corpus_vectors(scifact, xquad) if args.model == "e5" else None
    if base is not None:  # an unfinished SciFact e5 run: only the abstracts it embedded give sentences
        scifact = scifact[: len(base) - len(xquad)]
    english, spanish = sentences_of(scifact, 0), sentences_of(xquad, len(scifact))
    print(f"sentence pools: {len(english):,} English, {len(spanish):,} Spanish", flush=True)
    project_ids = [uuid.uuid4() for _ in range(args.projects)]
    weights = [rng.lognormvariate(0, 0.6) for _ in project_ids]  # uneven project sizes
    contents: list[str] = []
    meta_rows: list[tuple[uuid.UUID, str, uuid.UUID, int, dict[str, Any]]] = []
    origins: list[list[int]] = []
    while len(contents) < args.chunks:
        project = rng.choices(project_ids, weights=weights)[0]
        source_type = rng.choices(list(SOURCE_TYPES), weights=list(SOURCE_TYPES.values()))[0]
        source_id, meeting_id = uuid.uuid4(), uuid.uuid4()
        pool = spanish if rng.random() < 0.5 else english
        clock = 0.0
        for index in range(rng.randint(1, 12)):
            picked = [rng.choice(pool) for _ in range(rng.randint(3, 8))]
            title = picked[0].title
            body = " ".join(s.text for s in picked)
            meta: dict[str, Any] = {"title": title}
            if source_type == "transcript":
                length = rng.uniform(30, 180)
                meta.update(meeting_id=str(meeting_id), start=round(clock, 1), end=round(clock + length, 1),
                            speakers=rng.sample(["Ana", "Luis", "Marta", "John", "Wei"], 2))  # fmt: skip
                clock += length
            contents.append(f"[{title}]\n{body}")
            meta_rows.append((project, source_type, source_id, index, meta))
            origins.append([s.doc for s in picked])
    contents, meta_rows, origins = contents[: args.chunks], meta_rows[: args.chunks], origins[: args.chunks]

    print(f"embedding / synthesising {len(contents):,} vectors ({args.model}) ...", flush=True)
    vector_source = ""
    if args.model == "static":
        vectors = cached_embeddings("static", contents, batch=2048, label="search corpus")
        vector_source = "static model, real"
    else:
        np_rng = np.random.default_rng(args.seed)
        if base is not None:
            vectors = np.stack([base[o].sum(axis=0) for o in origins])
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors += np_rng.normal(0, 0.02, vectors.shape).astype(np.float32)
            vector_source = "mixtures of cached e5 vectors of the source abstracts + noise"
        else:
            vectors = np_rng.normal(0, 1, (len(contents), 384)).astype(np.float32)
            vector_source = "random (no cached e5 corpus vectors; run bench/retrieval.py first)"
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    print(f"vectors: {vector_source}", flush=True)

    enc = encoding()
    tokens = [len(t) for t in enc.encode_batch(contents, disallowed_special=())]
    rows = []
    for content, (project, source_type, source_id, index, meta), n_tokens in zip(
        contents, meta_rows, tokens, strict=True
    ):
        rows.append(
            (project, source_type, source_id, index, content, content_hash(content), n_tokens,
             detect_language(content), json.dumps(meta))
        )  # fmt: skip
    return Corpus(rows, vectors.astype(np.float32), project_ids, vector_source)


def _e5_corpus_vectors(scifact: list[Any], xquad: list[Any]) -> np.ndarray | None:
    """The cached e5 passage vectors of both corpora (bench/retrieval.py writes them; a SciFact run still
    under way gives its first part), or None."""
    parts = []
    for docs in (scifact, xquad):
        vectors = cached_embeddings("e5", [d.content for d in docs], cache_only=True, partial_ok=True)
        if vectors is None:
            return None
        parts.append(vectors)
    return np.concatenate(parts)


def _vector_text(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.5f}" for x in vector.tolist()) + "]"


def seed(database_url: str, corpus: Corpus, model: str, dimensions: int) -> uuid.UUID:
    """Users, projects, memberships and chunks with COPY; then the model's HNSW index and ANALYZE."""
    import psycopg

    user_id = uuid.uuid4()
    with psycopg.connect(libpq_url(database_url)) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO users (id, email, full_name, is_active, is_admin) VALUES (%s, %s, %s, true, false)",
            (user_id, "bench@example.com", "Bench User"),
        )
        with cur.copy("COPY projects (id, title, owner_id) FROM STDIN") as copy:
            for n, pid in enumerate(corpus.project_ids):
                copy.write_row((pid, f"Proyecto {n:02d}", user_id))
        with cur.copy("COPY project_members (id, project_id, user_id, role) FROM STDIN") as copy:
            for pid in corpus.project_ids:
                copy.write_row((uuid.uuid4(), pid, user_id, "owner"))
        cur.execute(
            "INSERT INTO embedding_models (name, dimensions, status) VALUES (%s, %s, 'serving')",
            (model, dimensions),
        )
        # Bulk load: drop the model's HNSW index and the full-text GIN and BM25 indexes, COPY, then build
        # them again from their own definitions (one build is far faster than 100,000 incremental inserts).
        from core.vectors import hnsw_index_name

        cur.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'chunks' AND "
            "(indexname = %s OR indexdef ILIKE '%%USING gin%%' OR indexdef ILIKE '%%USING bm25%%')",
            (hnsw_index_name(model),),
        )
        indexes = cur.fetchall()
        for index_name, _ in indexes:
            cur.execute(f'DROP INDEX "{index_name}"')
        started = time.perf_counter()
        columns = (
            "project_id, source_type, source_id, chunk_index, content, content_hash, token_count, language, "
            "metadata, embedding, embedding_model"
        )
        with cur.copy(f"COPY chunks ({columns}) FROM STDIN") as copy:
            for n, (row, vector) in enumerate(zip(corpus.rows, corpus.vectors, strict=True)):
                copy.write_row((*row, _vector_text(vector), model))
                if (n + 1) % 20_000 == 0:
                    print(f"  copied {n + 1:,} chunks ({time.perf_counter() - started:.0f} s)", flush=True)
        conn.commit()
        print(f"chunks copied in {time.perf_counter() - started:.0f} s; building the indexes ...", flush=True)
        cur.execute("SET maintenance_work_mem = '1GB'")
        if hnsw_index_name(model) not in {name for name, _ in indexes}:
            from core.vectors import embedding_cast

            indexes.append(
                (hnsw_index_name(model),
                 f"CREATE INDEX {hnsw_index_name(model)} ON chunks USING hnsw ({embedding_cast(dimensions)} "
                 f"vector_cosine_ops) WHERE embedding_model = '{model}'")
            )  # fmt: skip
        for index_name, definition in indexes:
            started = time.perf_counter()
            cur.execute(definition)
            conn.commit()
            print(f"  {index_name} built in {time.perf_counter() - started:.0f} s", flush=True)
        conn.autocommit = True
        cur.execute("VACUUM ANALYZE chunks")
        cur.execute("ANALYZE")
    return user_id


# --------------------------------------------------------------------------------------------- measuring


@dataclass
class Stats:
    path: str
    phase: str
    requests: int
    p50_ms: float
    p90_ms: float
    p99_ms: float
    mean_ms: float


@dataclass
class Report:
    chunks: int
    projects: int
    model: str
    vector_source: str
    load_seconds: float
    rows: list[Stats] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)
    mismatches: int = 0
    lexical: str = ""
    errors: int = 0
    plan: str = ""
    targets: list[dict[str, Any]] = field(default_factory=list)


def _stats(path: str, phase: str, times: list[float]) -> Stats:
    return Stats(path, phase, len(times), median(times), percentile(times, 90), percentile(times, 99),
                 float(np.mean(times)) if times else float("nan"))  # fmt: skip


def query_texts(rng: random.Random) -> list[str]:
    from retrieval.search import clean_query

    texts = [clean_query(t) for t in load_beir(DATA / "scifact", "train").queries.values()]
    texts += [clean_query(t) for t in load_beir(DATA / "xquad_es").queries.values()]
    texts = list(dict.fromkeys(texts))
    rng.shuffle(texts)
    return texts


async def measure(
    args: argparse.Namespace, settings: Settings, base_url: str, token: str, corpus: Corpus, report: Report
) -> None:
    import httpx

    from core.db import create_engine, create_sessionmaker
    from retrieval.lexical import active_lexical
    from retrieval.retriever import PER_SOURCE, search_scope
    from retrieval.search import search_chunks

    rng = random.Random(args.seed + 1)
    texts = query_texts(rng)
    needed = args.warmup + args.requests
    if len(texts) < needed:
        raise SystemExit(f"only {len(texts)} distinct queries; ask for fewer --requests")
    plan = [(texts[i], rng.choice(corpus.project_ids)) for i in range(needed)]
    embedder = make_embedder(args.model, threads=1)  # the API process's query embedder: 1 thread
    engine = create_engine(settings)
    sessionmaker = create_sessionmaker(engine)
    name = MODELS[args.model]
    headers = {"Authorization": f"Bearer {token}"}
    api_times: dict[str, list[float]] = {"uncached": [], "cached": []}
    lexical_times: dict[str, list[float]] = {}
    bare_times: dict[str, list[float]] = {"uncached": [], "cached": []}
    embed_times: list[float] = []
    vectors: dict[str, list[float]] = {}
    lexical = await active_lexical(engine, settings.retrieval.lexical)

    async def api(client: httpx.AsyncClient, text: str, project: uuid.UUID) -> tuple[float, list[int]]:
        started = time.perf_counter()
        response = await client.get(f"/api/v1/ai/search/{project}", params={"q": text}, headers=headers)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            report.errors += 1
            return elapsed, []
        return elapsed, [r["chunk_id"] for r in response.json()["results"]]

    async def bare(text: str, project: uuid.UUID, *, embed: bool) -> tuple[float, list[int]]:
        started = time.perf_counter()
        if embed:
            t0 = time.perf_counter()
            vector = await embedder.embed_query(text)
            embed_times.append((time.perf_counter() - t0) * 1000)
            vectors[text] = vector
        else:
            vector = vectors[text]
        # The API's page: picked by the statement from a pool three pages deep, one source at most twice
        # on the page, then the page's snippets; after the scope's statement, as the API runs it
        # (retriever.search_scope: the BM25 way and the chunks' change counter, for the kept statistics).
        async with sessionmaker() as session:
            scope = await search_scope(session, [project], lexical=lexical)
            hits = await search_chunks(
                session, project_ids=[project], query=text, query_embedding=vector, model=name,
                dimensions=embedder.dimensions, config=settings.retrieval, limit=10, offset=0,
                per_source=PER_SOURCE, bm25=scope.bm25, corpus=scope.corpus,
            )  # fmt: skip
        return (time.perf_counter() - started) * 1000, [h.chunk_id for h in hits]

    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=60.0) as client:
            for phase in ("uncached", "cached"):
                print(
                    f"{phase}: {args.requests} queries through each path (+{args.warmup} warm-up) ...",
                    flush=True,
                )
                for n, (text, project) in enumerate(plan):
                    # Alternate the order, so neither path always finds the other's pages in the buffer cache.
                    api_first = n % 2 == 0
                    if api_first:
                        a_ms, a_ids = await api(client, text, project)
                    b_ms, b_ids = await bare(text, project, embed=phase == "uncached")
                    if not api_first:
                        a_ms, a_ids = await api(client, text, project)
                    if n < args.warmup:
                        continue
                    api_times[phase].append(a_ms)
                    bare_times[phase].append(b_ms)
                    if phase == "uncached" and a_ids != b_ids:
                        report.mismatches += 1
            # The lexical side alone (mode=text, the same page of 10, with its snippets), with the active
            # ranking and, when that is BM25, with the portable one (ts_rank) as the baseline of the same
            # run; as the product runs it: the scope's statement (retriever.search_scope: the BM25 way and
            # the chunks' change counter, which lets BM25's corpus statistics be kept), then the search.
            report.lexical = lexical
            rankings = list(dict.fromkeys([report.lexical, "ts_rank"]))
            print(f"full text alone ({', '.join(rankings)}): {args.requests} queries each ...", flush=True)
            for text, project in plan:
                for ranking in rankings:
                    config = settings.retrieval.model_copy(update={"lexical": ranking})
                    started = time.perf_counter()
                    async with sessionmaker() as session:
                        scope = await search_scope(session, [project], lexical=ranking)
                        await search_chunks(
                            session, project_ids=[project], query=text, query_embedding=None, model=name,
                            dimensions=embedder.dimensions, config=config, limit=10, mode="text",
                            bm25=scope.bm25, corpus=scope.corpus,
                        )  # fmt: skip
                    lexical_times.setdefault(ranking, []).append((time.perf_counter() - started) * 1000)
            text, project = plan[args.warmup]
            report.plan = await explain(engine, name, settings, text, project, vectors[text])
    finally:
        await engine.dispose()
    for ranking, times in lexical_times.items():
        report.rows.append(_stats(f"full text ({ranking})", "bare", times[args.warmup :]))
    for phase in ("uncached", "cached"):
        report.rows.append(_stats("api", phase, api_times[phase]))
        report.rows.append(_stats("bare", phase, bare_times[phase]))
        report.ratios[phase] = median(api_times[phase]) / median(bare_times[phase])
    report.rows.append(_stats("query embedding alone", "uncached", embed_times[args.warmup :]))
    ratio = report.ratios["uncached"]
    lexical_p50 = median(lexical_times[report.lexical][args.warmup :])
    report.targets = [
        {"target": f"API p50 <= {TARGET_RATIO}x bare p50 (distinct queries)", "measured": f"{ratio:.2f}x",
         "pass": ratio <= TARGET_RATIO},
        {"target": f"full text ({report.lexical}) p50 <= {TARGET_LEXICAL_MS} ms",
         "measured": f"{lexical_p50:.1f} ms", "pass": lexical_p50 <= TARGET_LEXICAL_MS},
    ]  # fmt: skip


async def explain(
    engine: Any, model: str, settings: Settings, text: str, project: uuid.UUID, vector: list[float]
) -> str:
    """EXPLAIN ANALYZE of the search statement for one measured query (same SQL, same parameters)."""
    import sqlalchemy as sa

    from retrieval.lexical import active_lexical, bm25_strategy
    from retrieval.search import SearchFilters, search_statement

    async with engine.connect() as conn:
        sql, params = search_statement(
            project_ids=[project], query=text, query_embedding=vector, model=model, dimensions=len(vector),
            config=settings.retrieval, lexical=await active_lexical(engine, settings.retrieval.lexical),
            limit=10, offset=0, mode="hybrid", filters=SearchFilters(),
            bm25=await bm25_strategy(conn, project_ids=[project], model=model),
        )  # fmt: skip
        rows = (await conn.execute(sa.text("EXPLAIN (ANALYZE, BUFFERS OFF) " + sql), params)).all()
    return "\n".join(r[0] for r in rows)


def print_report(report: Report, verbose: bool) -> None:
    print()
    print(
        f"{report.chunks:,} chunks over {report.projects} projects, model {report.model} "
        f"({report.vector_source}); seeded in {report.load_seconds:.0f} s"
    )
    print("sequential requests, one at a time; each query searches one random project of the bench user")
    print(f"full-text ranking: {report.lexical}")
    print()
    header = f"{'path':<22} {'phase':<9} {'n':>5} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'mean ms':>8}"
    print(header)
    print("-" * len(header))
    for r in report.rows:
        print(
            f"{r.path:<22} {r.phase:<9} {r.requests:>5} {r.p50_ms:>8.2f} {r.p90_ms:>8.2f} {r.p99_ms:>8.2f} "
            f"{r.mean_ms:>8.2f}"
        )
    print()
    for phase, ratio in report.ratios.items():
        print(f"API p50 / bare p50, {phase}: {ratio:.2f}")
    print(f"result lists differing between API and bare path: {report.mismatches}; errors: {report.errors}")
    print()
    for target in report.targets:
        print(f"  {'PASS' if target['pass'] else 'MISS'}  {target['target']:<52} {target['measured']}")
    if verbose:
        print("\nEXPLAIN ANALYZE of one measured query:\n" + report.plan)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--model", choices=sorted(MODELS), default="e5", help="the serving embedding model")
    parser.add_argument("--requests", type=int, default=300, help="measured queries per path and phase")
    parser.add_argument("--warmup", type=int, default=20, help="unmeasured queries first")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder (scifact, xquad_es)")
    parser.add_argument("--explain", action="store_true", help="print the plan of one measured query")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    global DATA
    args = parse_args(argv)
    DATA = args.data
    rng = random.Random(args.seed)
    name = MODELS[args.model]
    started = time.perf_counter()
    corpus = synthesise(args, rng)
    report = Report(len(corpus.rows), args.projects, name, corpus.vector_source, 0.0)
    with embedded_services("bench-search") as (services, workdir):
        database_url = create_database(services.database_url, "v1tr0_bench_search")
        user_id = seed(database_url, corpus, name, int(corpus.vectors.shape[1]))
        report.load_seconds = time.perf_counter() - started
        # The bare path runs in this process: drop the synthetic corpus and freeze what is left, so that
        # garbage collections over a million seeding objects do not land in its timings.
        corpus.rows.clear()
        corpus.vectors = np.zeros((0, 0), np.float32)
        gc.collect()
        gc.freeze()
        from core.security import create_access_token

        token = create_access_token(user_id=user_id, secret=SECRET, ttl_seconds=24 * 3600)
        settings = Settings(
            environment="test", database_url=database_url, redis_url=services.redis_url,
            data_dir=workdir / "app", log={"level": "WARNING"}, embedding={"provider": args.model},
        )  # fmt: skip
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": database_url,
            "REDIS_URL": services.redis_url,
            "V1TR0_AUTH__SECRET_KEY": SECRET,
            "V1TR0_LOG__LEVEL": "WARNING",
            "V1TR0_DATA_DIR": str(workdir / "app"),
            "V1TR0_EMBEDDING__PROVIDER": args.model,
            **UNLIMITED,
        }
        try:
            with serve(
                "app", ["api.app:create_app", "--factory"], env=env, logs=workdir, probe="/health/live"
            ) as app:
                asyncio.run(measure(args, settings, app.base_url, token, corpus, report))
        except KeyboardInterrupt:
            print("\ninterrupted: stopping everything the bench started", file=sys.stderr)
            return 130
    print_report(report, args.explain)
    write_json(args.json, asdict(report))
    return 1 if report.errors else 0


if __name__ == "__main__":
    raise SystemExit(main())
