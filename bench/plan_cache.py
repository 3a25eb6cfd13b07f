"""How much of the search statement is planning: the same statements unprepared, prepared with
PostgreSQL's default plan cache (`plan_cache_mode=auto`, what psycopg gives after 5 runs on a connection),
and prepared with a generic plan forced; and whether the generic plan returns the same rows.

bench/search.py's synthetic corpus (the static model's vectors) on embedded PostgreSQL; every query
searches one project (the scope way of BM25) through `retrieval.search.search_statement`, on one psycopg
connection, so only the database's time and the driver's are in the numbers. Ratios are to the unprepared
run of the same process.

    python bench/plan_cache.py [--chunks 100000] [--projects 50] [--queries 60]
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import search as corpus_bench
from common import MODELS, create_database, embedded_services

from core.db import libpq_url
from core.reads import driver_sql
from core.settings import Settings
from retrieval.search import Mode, SearchFilters, search_statement

RUNS = (
    ("unprepared", False, "auto"),
    ("prepared, auto", True, "auto"),
    ("prepared, generic", True, "force_generic_plan"),
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--projects", type=int, default=50)
    parser.add_argument("--queries", type=int, default=60)
    args = parser.parse_args(argv)
    corpus_args = corpus_bench.parse_args(
        ["--chunks", str(args.chunks), "--projects", str(args.projects), "--model", "static"]
    )
    corpus_bench.DATA = corpus_args.data
    corpus = corpus_bench.synthesise(corpus_args, random.Random(7))
    model, dimensions = MODELS["static"], int(corpus.vectors.shape[1])
    import psycopg

    with embedded_services("bench-plan-cache") as (services, _):
        url = create_database(services.database_url, "v1tr0_bench_plan_cache")
        corpus_bench.seed(url, corpus, model, dimensions)
        config = Settings(environment="test", database_url=url).retrieval
        texts = corpus_bench.query_texts(random.Random(3))[: args.queries]
        rng = random.Random(5)
        with psycopg.connect(libpq_url(url), autocommit=True) as conn:
            projects = [row[0] for row in conn.execute("SELECT DISTINCT project_id FROM chunks").fetchall()]
            vectors = [[float(x) for x in corpus.vectors[rng.randrange(len(corpus.vectors))]] for _ in texts]

            def statements(mode: Mode) -> list[tuple[str, dict[str, Any]]]:
                found = []
                for i, text in enumerate(texts):
                    sql, params = search_statement(
                        project_ids=[projects[i % len(projects)]], query=text, query_embedding=vectors[i],
                        model=model, dimensions=dimensions, config=config, lexical="bm25", limit=10,
                        offset=0, mode=mode, filters=SearchFilters(), bm25="scope",
                    )  # fmt: skip
                    found.append((driver_sql(sql), params))
                return found

            print(
                f"\n{args.chunks:,} chunks, {args.projects} projects; {len(texts)} queries, one project each"
            )
            print(
                f"{'statement':<8} {'plan':<18} {'p50 ms':>7} {'mean ms':>8} {'vs unprepared':>14}  same rows"
            )
            for mode in ("text", "hybrid"):
                baseline, custom_rows = 0.0, []
                for label, prepare, plan_cache in RUNS:
                    conn.execute(f"SET plan_cache_mode = {plan_cache}")
                    batch = statements(mode)
                    for sql, params in batch[:10]:  # warm-up; prepared statements pass their 5 custom plans
                        for _ in range(6 if prepare else 1):
                            conn.execute(sql, params, prepare=prepare)
                    times, rows = [], []
                    for sql, params in batch:
                        started = time.perf_counter()
                        rows.append([row[0] for row in conn.execute(sql, params, prepare=prepare).fetchall()])
                        times.append((time.perf_counter() - started) * 1000)
                    p50 = statistics.median(times)
                    baseline = baseline or p50
                    custom_rows = custom_rows or rows
                    same = sum(a == b for a, b in zip(rows, custom_rows, strict=True))
                    print(
                        f"{mode:<8} {label:<18} {p50:>7.2f} {statistics.mean(times):>8.2f} "
                        f"{p50 / baseline:>14.2f}  {same} of {len(rows)}",
                        flush=True,
                    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
