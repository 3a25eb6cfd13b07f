"""Measure ingestion: pipeline vs direct embedding chunks/s, write-to-search freshness lag and index sizes."""

# The run is self-contained: embedded PostgreSQL + Redis under a temporary data dir, a migrated database, the
# real app served by uvicorn and one real `python -m v1tr0 worker`, all stopped at the end (also on Ctrl-C or
# SIGTERM). Then, in order:
#
# 1. pipeline: SciFact documents POSTed through the API by a few concurrent clients; timed from the first
#    POST until the last outbox row is done (its `processed_at`); chunks/s = chunks in the table / elapsed;
# 2. index size: the chunks table, the model's HNSW index and the full-text GIN index, per 1,000 chunks;
# 3. freshness: single documents written one at a time on the idle system, each timed from its 201 to the
#    first search (polled every 50 ms) that returns it;
# 4. direct baseline, after the API and the worker have stopped: the same chunk texts, read back from the
#    table, embedded by `create_embedder(settings).embed_passages` in batches of `embedding.batch_size`
#    with the same model and thread count as the worker.
#
#     python bench/ingest.py [--model e5|static] [--docs 2000] [--threads 2] [--json out.json]
#
# CPU-s/chunk sums the CPU time of the bench, API, worker, PostgreSQL and Redis over each timed phase; on
# a machine shared with other work it measures the pipeline's overhead better than wall-clock chunks/s.

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import random
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import IO, Any

import httpx
import psutil
import psycopg

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "data" / "scifact" / "corpus.jsonl"
sys.path.insert(0, str(ROOT))

from common import UNLIMITED, embedded_services  # noqa: E402

from core.db import libpq_url  # noqa: E402
from core.embedded import EmbeddedServices, free_port  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.providers.embeddings import create_embedder, model_spec  # noqa: E402
from core.security import create_access_token  # noqa: E402
from core.settings import Settings  # noqa: E402
from core.vectors import hnsw_index_name  # noqa: E402

DATABASE = "v1tr0_bench_ingest"
SECRET = "bench-secret-key-that-is-long-enough-for-hs256-0123456789"  # noqa: S105 - throwaway
API = "/api/v1"

TARGET_RATIO = 0.8
TARGET_FRESHNESS_P50_S = 2.0
POLL_SEARCH_S = 0.05
FRESHNESS_TIMEOUT_S = 30.0
STALL_TIMEOUT_S = 600.0


# --------------------------------------------------------------------------------------------- helpers


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _database_url(admin_url: str, name: str) -> str:
    head, _, query = admin_url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def create_database(admin_url: str) -> str:
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    return _database_url(admin_url, DATABASE)


def load_corpus(limit: int) -> list[tuple[str, str]]:
    docs: list[tuple[str, str]] = []
    with CORPUS.open(encoding="utf-8") as lines:
        for line in lines:
            record = json.loads(line)
            title = (record["title"] or "").strip()[:300] or f"SciFact {record['_id']}"
            docs.append((title, record["text"]))
            if len(docs) == limit:
                break
    if len(docs) < limit:
        raise SystemExit(f"{CORPUS} holds only {len(docs)} documents, fewer than --docs {limit}")
    return docs


class CpuMeter:
    """CPU seconds used on the machine during a phase, and how much of it was ours (bench, API, worker,
    this run's PostgreSQL and Redis): the rest is someone else's load, which skews the numbers."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots
        self._start: dict[int, float] = {}
        self._busy = 0.0
        self._wall = 0.0

    def _ours(self) -> dict[int, float]:
        seen: dict[int, float] = {}
        for pid in self.roots:
            with contextlib.suppress(psutil.Error):
                root = psutil.Process(pid)
                for proc in [root, *root.children(recursive=True)]:
                    with contextlib.suppress(psutil.Error):
                        t = proc.cpu_times()
                        seen[proc.pid] = t.user + t.system
        return seen

    @staticmethod
    def _machine_busy() -> float:
        t = psutil.cpu_times()
        return t.user + t.nice + t.system + getattr(t, "irq", 0.0) + getattr(t, "softirq", 0.0)

    def start(self) -> None:
        self._start = self._ours()
        self._busy = self._machine_busy()
        self._wall = time.monotonic()

    def stop(self) -> dict[str, float]:
        ours = sum(cpu - self._start.get(pid, 0.0) for pid, cpu in self._ours().items())
        busy = self._machine_busy() - self._busy
        wall = time.monotonic() - self._wall
        cores = psutil.cpu_count() or 1
        return {
            "wall_s": round(wall, 2),
            "ours_cpu_s": round(ours, 2),
            "machine_busy_pct": round(100 * busy / (wall * cores), 1) if wall else 0.0,
            "ours_pct": round(100 * ours / (wall * cores), 1) if wall else 0.0,
            "others_pct": round(max(busy - ours, 0.0) * 100 / (wall * cores), 1) if wall else 0.0,
        }


# --------------------------------------------------------------------------------------------- processes


@dataclass
class Child:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]

    def tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def check(self) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def spawn(name: str, args: list[str], env: dict[str, str], logs: Path) -> Child:
    log_path = logs / f"{name}.log"
    log = log_path.open("wb")
    process = subprocess.Popen(
        args,
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # Ctrl-C reaches the bench only; it stops the children in order
    )
    return Child(name, process, log_path, log)


@contextlib.contextmanager
def stack(env: dict[str, str], worker_env: dict[str, str], logs: Path) -> Iterator[tuple[Child, Child, str]]:
    """The API (one uvicorn worker) and one `python -m v1tr0 worker`, stopped on exit."""
    port = free_port()
    api_args = [
        sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory", "--host", "127.0.0.1",
        "--port", str(port), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip
    children: list[Child] = []
    try:
        api = spawn("api", api_args, env, logs)
        children.append(api)
        worker = spawn("worker", [sys.executable, "-m", "v1tr0", "worker"], worker_env, logs)
        children.append(worker)
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            api.check()
            worker.check()
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(base_url + "/health/live", timeout=2.0).status_code == 200:
                    break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API did not answer within 60 s:\n{api.tail()}")
            time.sleep(0.1)
        yield api, worker, base_url
    finally:
        for child in reversed(children):
            child.stop()


# --------------------------------------------------------------------------------------------- database


class Db:
    """Plain psycopg reads of what the pipeline wrote (the bench's view, independent of the app)."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(libpq_url(url), autocommit=True)

    def close(self) -> None:
        self.conn.close()

    def one(self, sql: str, *params: Any) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return row[0] if row and len(row) == 1 else row

    def create_user(self) -> uuid.UUID:
        user_id = uuid.uuid4()
        self.conn.execute(
            "INSERT INTO users (id, email, full_name, is_active, is_admin) VALUES (%s, %s, %s, true, false)",
            (user_id, "bench.ingest@example.com", "Bench Ingest"),
        )
        return user_id

    def serving_model(self) -> str | None:
        return self.one("SELECT name FROM embedding_models WHERE status = 'serving'")  # type: ignore[no-any-return]

    def outbox_counts(self, project_id: uuid.UUID) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT status, count(*) FROM outbox WHERE project_id = %s GROUP BY status", (project_id,)
        ).fetchall()
        return {status: count for status, count in rows}

    def last_processed(self, project_id: uuid.UUID) -> datetime:
        return self.one(  # type: ignore[no-any-return]
            "SELECT max(processed_at) FROM outbox WHERE project_id = %s AND status = 'done'", project_id
        )

    def failures(self, project_id: uuid.UUID) -> list[str]:
        rows = self.conn.execute(
            "SELECT id, last_error FROM outbox WHERE project_id = %s AND status = 'failed' LIMIT 5",
            (project_id,),
        ).fetchall()
        return [f"outbox {oid}: {error}" for oid, error in rows]

    def chunk_texts(self, source_ids: list[uuid.UUID], model: str) -> list[str]:
        rows = self.conn.execute(
            "SELECT content FROM chunks WHERE source_type = 'document' AND source_id = ANY(%s) "
            "AND embedding_model = %s ORDER BY id",
            (source_ids, model),
        ).fetchall()
        return [row[0] for row in rows]


async def wait_outbox_idle(db: Db, project_id: uuid.UUID, within: float = 120.0) -> None:
    deadline = time.monotonic() + within
    while True:
        counts = db.outbox_counts(project_id)
        if not counts.get("pending") and not counts.get("processing"):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the outbox did not drain within {within:.0f} s: {counts}")
        await asyncio.sleep(0.1)


# --------------------------------------------------------------------------------------------- phases


@dataclass
class Pipeline:
    documents: int
    clients: int
    chunks: int
    tokens: int
    post_s: float
    elapsed_s: float
    chunks_per_s: float
    failed: int
    cpu: dict[str, float]


async def run_pipeline(
    http: httpx.AsyncClient, db: Db, project_id: uuid.UUID, docs: list[tuple[str, str]], *, clients: int,
    model: str, meter: CpuMeter,
) -> tuple[Pipeline, list[uuid.UUID]]:  # fmt: skip
    """POST every document with `clients` concurrent clients; wait until the worker has indexed them all."""
    queue = list(enumerate(docs))
    ids: list[uuid.UUID | None] = [None] * len(docs)
    posted = 0

    async def client() -> None:
        nonlocal posted
        while queue:
            index, (title, content) = queue.pop(0)
            r = await http.post(
                f"{API}/projects/{project_id}/documents", json={"title": title, "content": content}
            )
            if r.status_code != 201:
                raise RuntimeError(f"POST document {index}: {r.status_code} {r.text[:300]}")
            ids[index] = uuid.UUID(r.json()["id"])
            posted += 1

    meter.start()
    started_at = datetime.now(UTC)
    started = time.monotonic()
    posting = asyncio.gather(*(client() for _ in range(clients)))
    post_s = 0.0
    last_report = started
    last_progress = (started, -1)
    while True:
        await asyncio.sleep(0.25)
        if posting.done():
            posting.result()  # re-raises a failed POST
            if not post_s:
                post_s = time.monotonic() - started
        counts = db.outbox_counts(project_id)
        open_rows = counts.get("pending", 0) + counts.get("processing", 0)
        now = time.monotonic()
        if posting.done() and open_rows == 0:
            break
        done = counts.get("done", 0)
        if done != last_progress[1]:
            last_progress = (now, done)
        elif now - last_progress[0] > STALL_TIMEOUT_S:
            raise RuntimeError(f"no outbox row finished for {STALL_TIMEOUT_S:.0f} s: {counts}")
        if now - last_report >= 30:
            last_report = now
            print(f"  {now - started:6.0f} s: {posted}/{len(docs)} posted, outbox {counts}", flush=True)
    cpu = meter.stop()
    finished_at = db.last_processed(project_id)
    elapsed = (finished_at - started_at).total_seconds()
    doc_ids = [i for i in ids if i is not None]
    chunks, tokens = db.one(
        "SELECT count(*), coalesce(sum(token_count), 0) FROM chunks WHERE source_type = 'document' "
        "AND source_id = ANY(%s) AND embedding_model = %s",
        doc_ids,
        model,
    )
    failed = db.outbox_counts(project_id).get("failed", 0)
    result = Pipeline(
        documents=len(docs),
        clients=clients,
        chunks=chunks,
        tokens=int(tokens),
        post_s=round(post_s, 2),
        elapsed_s=round(elapsed, 2),
        chunks_per_s=chunks / elapsed if elapsed > 0 else 0.0,
        failed=failed,
        cpu=cpu,
    )
    return result, doc_ids


async def check_index_status(
    http: httpx.AsyncClient, project_id: uuid.UUID, db: Db, model: str
) -> dict[str, Any]:
    """The API's own view agrees with the table: nothing pending or failed, every chunk counted."""
    r = await http.get(f"{API}/projects/{project_id}/index-status")
    r.raise_for_status()
    status: dict[str, Any] = r.json()
    in_table = db.one(
        "SELECT count(*) FROM chunks WHERE project_id = %s AND embedding_model = %s", project_id, model
    )
    problems = []
    if status["pending"] or status["failed"]:
        problems.append(f"pending {status['pending']}, failed {status['failed']}: {status['failures'][:3]}")
    if status["indexed_chunks"] != in_table:
        problems.append(f"index-status counts {status['indexed_chunks']} chunks, the table {in_table}")
    if status["embedding_model"] != model:
        problems.append(f"serving model {status['embedding_model']}, expected {model}")
    if problems:
        raise RuntimeError("index-status: " + "; ".join(problems))
    return status


@dataclass
class Sizes:
    chunks: int
    table_kb: float
    heap_toast_kb: float
    hnsw_kb: float
    gin_kb: float
    hnsw_index: str

    def per_1000(self, kb: float) -> float:
        return kb * 1000 / self.chunks if self.chunks else 0.0


def measure_sizes(db: Db, model: str) -> Sizes:
    index = hnsw_index_name(model)
    if not db.one("SELECT to_regclass(%s) IS NOT NULL", index):
        raise RuntimeError(f"no HNSW index {index} for {model}")
    db.conn.execute("VACUUM ANALYZE chunks")  # settle the visibility map / free space map like a live system
    chunks, total, table, hnsw, gin = db.one(
        "SELECT (SELECT count(*) FROM chunks), pg_total_relation_size('chunks'), pg_table_size('chunks'), "
        "pg_relation_size(%s::regclass), pg_relation_size('ix_chunks_tsv'::regclass)",
        index,
    )
    return Sizes(chunks, total / 1024, table / 1024, hnsw / 1024, gin / 1024, index)


@dataclass
class Freshness:
    probes: int
    p50_s: float
    p95_s: float
    max_s: float
    indexed_p50_s: float
    lags_s: list[float] = field(default_factory=list)
    indexed_s: list[float] = field(default_factory=list)  # per probe: outbox row written -> done
    missed: list[str] = field(default_factory=list)  # probes never returned by search, and why


SYLLABLES = [
    "ka",
    "lo",
    "mi",
    "ru",
    "ve",
    "ta",
    "zo",
    "ni",
    "qua",
    "bre",
    "dri",
    "fo",
    "glu",
    "pra",
    "xe",
    "yo",
]


def unique_word(rng: random.Random) -> str:
    return "".join(rng.choice(SYLLABLES) for _ in range(4)) + rng.choice(["x", "k", "z", "t"])


async def run_freshness(
    http: httpx.AsyncClient, db: Db, project_id: uuid.UUID, probes: int, worker: Child
) -> Freshness:
    """Write single documents one at a time; each lag is its 201 -> the first search that returns it."""
    rng = random.Random(4_2026)
    r = await http.get(f"{API}/ai/search/{project_id}", params={"q": "warm up the query path"})
    r.raise_for_status()
    lags: list[float] = []
    indexed: list[float] = []
    missed: list[str] = []
    for i in range(probes):
        await wait_outbox_idle(db, project_id)
        await asyncio.sleep(0.3)
        words = [unique_word(rng) for _ in range(3)]
        content = (
            f"Freshness probe {i}: the {words[0]} assay showed that {words[1]} binding depends on "
            f"{words[2]} in the treated cohort."
        )
        r = await http.post(
            f"{API}/projects/{project_id}/documents", json={"title": f"Probe {i}", "content": content}
        )
        written = time.monotonic()
        if r.status_code != 201:
            raise RuntimeError(f"POST probe {i}: {r.status_code} {r.text[:300]}")
        doc_id = r.json()["id"]
        query = " ".join(words)
        while True:
            s = await http.get(f"{API}/ai/search/{project_id}", params={"q": query})
            s.raise_for_status()
            if any(hit["source_id"] == doc_id for hit in s.json()["results"]):
                lags.append(time.monotonic() - written)
                break
            if time.monotonic() - written > FRESHNESS_TIMEOUT_S:
                worker.check()
                lags.append(math.inf)
                missed.append(await _diagnose(http, db, project_id, i, doc_id, query))
                print(f"  MISSED: {missed[-1]}", flush=True)
                break
            await asyncio.sleep(POLL_SEARCH_S)
        lag = db.one(
            "SELECT extract(epoch FROM processed_at - created_at) FROM outbox WHERE source_id = %s",
            uuid.UUID(doc_id),
        )
        indexed.append(float(lag) if lag is not None else math.inf)
        if len(missed) >= 3:
            print("  three probes never showed up in search: stopping the freshness phase", flush=True)
            break
    return Freshness(
        probes=len(lags),
        p50_s=statistics.median(lags),
        p95_s=_percentile(lags, 0.95),
        max_s=max(lags),
        indexed_p50_s=statistics.median(indexed),
        lags_s=[round(x, 3) for x in lags],
        indexed_s=[round(x, 3) for x in indexed],
        missed=missed,
    )


async def _diagnose(
    http: httpx.AsyncClient, db: Db, project_id: uuid.UUID, i: int, doc_id: str, query: str
) -> str:
    """Why a probe is not found: its outbox row, its chunks, and what each search mode returns."""
    row = db.one("SELECT status, attempts, last_error FROM outbox WHERE source_id = %s", uuid.UUID(doc_id))
    chunks = db.one("SELECT count(*) FROM chunks WHERE source_id = %s", uuid.UUID(doc_id))
    found = {}
    for mode in ("text", "vector"):
        r = await http.get(f"{API}/ai/search/{project_id}", params={"q": query, "mode": mode, "limit": 50})
        found[mode] = (
            r.status_code
            if r.status_code != 200
            else any(hit["source_id"] == doc_id for hit in r.json()["results"])
        )
    return (
        f"probe {i} ({query!r}) not returned by search after {FRESHNESS_TIMEOUT_S:.0f} s: outbox {row}, "
        f"{chunks} chunks, found by mode=text: {found['text']}, mode=vector (top 50): {found['vector']}"
    )


@dataclass
class Direct:
    chunks: int
    batch_size: int
    elapsed_s: float
    chunks_per_s: float
    cpu: dict[str, float]


def run_direct(settings: Settings, texts: list[str], meter: CpuMeter) -> Direct:
    """Embed the pipeline's chunk texts straight with the provider, in batches of embedding.batch_size."""
    embedder = create_embedder(settings)
    batch = settings.embedding.batch_size

    async def embed_all() -> float:
        await embedder.embed_passages(["warm-up"])
        meter.start()
        started = time.perf_counter()
        for start in range(0, len(texts), batch):
            vectors = await embedder.embed_passages(texts[start : start + batch])
            if len(vectors) != len(texts[start : start + batch]):
                raise RuntimeError("the embedder returned the wrong number of vectors")
        return time.perf_counter() - started

    elapsed = asyncio.run(embed_all())
    cpu = meter.stop()
    return Direct(len(texts), batch, round(elapsed, 2), len(texts) / elapsed if elapsed else 0.0, cpu)


# --------------------------------------------------------------------------------------------- run


@dataclass
class Report:
    model: str
    threads: int
    max_jobs: int
    batch_size: int
    chunk_tokens: int
    cores: int
    pipeline: Pipeline | None = None
    direct: Direct | None = None
    ratio: float = 0.0
    cpu_ratio: float = 0.0  # direct CPU-s per chunk / pipeline CPU-s per chunk
    freshness: Freshness | None = None
    sizes: dict[str, float] = field(default_factory=dict)
    index_status: dict[str, Any] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)


def measure_all(args: argparse.Namespace, workdir: Path, embedded: EmbeddedServices) -> Report:
    base = Settings()
    settings = base.model_copy(
        update={
            "embedding": base.embedding.model_copy(update={"provider": args.model, "threads": args.threads})
        }
    )
    model = model_spec(settings).name
    report = Report(
        model=model,
        threads=args.threads,
        max_jobs=args.max_jobs or settings.ingestion.max_jobs,
        batch_size=settings.embedding.batch_size,
        chunk_tokens=settings.ingestion.chunk_tokens,
        cores=len(os.sched_getaffinity(0)),
    )
    docs = load_corpus(args.docs)

    print("creating and migrating the database ...", flush=True)
    database_url = create_database(embedded.database_url)
    upgrade(database_url)
    db = Db(database_url)
    try:
        user_id = db.create_user()
        token = create_access_token(user_id=user_id, secret=SECRET, ttl_seconds=24 * 3600)
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "HF_HUB_OFFLINE": "1",
            "DATABASE_URL": database_url,
            "REDIS_URL": embedded.redis_url,
            "V1TR0_AUTH__SECRET_KEY": SECRET,
            "V1TR0_LOG__LEVEL": "WARNING",
            "V1TR0_DATA_DIR": str(workdir / "app"),
            "V1TR0_EMBEDDING__PROVIDER": args.model,
            **UNLIMITED,
        }
        worker_env = {**env, "V1TR0_EMBEDDING__THREADS": str(args.threads)}
        if args.max_jobs:
            worker_env["V1TR0_INGESTION__MAX_JOBS"] = str(args.max_jobs)
        texts: list[str] = []
        with stack(env, worker_env, workdir) as (api, worker, base_url):
            meter = CpuMeter([os.getpid(), api.process.pid, worker.process.pid, *_server_pids(embedded)])
            texts = asyncio.run(_with_stack(args, report, db, base_url, token, docs, model, worker, meter))
            api.check()
            worker.check()
        print(f"direct: embedding the same {len(texts):,} chunk texts with {model} ...", flush=True)
        meter = CpuMeter([os.getpid(), *_server_pids(embedded)])
        report.direct = run_direct(settings, texts, meter)
    finally:
        db.close()
    _judge(report)
    return report


def _server_pids(embedded: EmbeddedServices) -> list[int]:
    pids = []
    with contextlib.suppress(OSError, ValueError, IndexError):
        pids.append(int((embedded.pgdata / "postmaster.pid").read_text().splitlines()[0]))
    with contextlib.suppress(OSError, ValueError):
        pids.append(int((embedded.redis_dir / "redis.pid").read_text().strip()))
    return pids


async def _with_stack(
    args: argparse.Namespace, report: Report, db: Db, base_url: str, token: str, docs: list[tuple[str, str]],
    model: str, worker: Child, meter: CpuMeter,
) -> list[str]:  # fmt: skip
    limits = httpx.Limits(max_connections=args.clients + 2)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60.0, limits=limits) as http:
        deadline = time.monotonic() + 60
        while db.serving_model() != model:  # the worker registers the model when it starts
            worker.check()
            if time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not register {model} within 60 s:\n{worker.tail()}")
            await asyncio.sleep(0.1)
        r = await http.post(f"{API}/projects", json={"title": "SciFact ingestion bench"})
        if r.status_code != 201:
            raise RuntimeError(f"POST project: {r.status_code} {r.text[:300]}")
        project_id = uuid.UUID(r.json()["id"])
        await wait_outbox_idle(db, project_id)

        print(
            f"pipeline: POSTing {len(docs):,} SciFact documents with {args.clients} clients; "
            f"worker: {model}, {args.threads} thread(s), max_jobs {report.max_jobs} ...",
            flush=True,
        )
        report.pipeline, doc_ids = await run_pipeline(
            http, db, project_id, docs, clients=args.clients, model=model, meter=meter
        )
        if report.pipeline.failed:
            raise RuntimeError(f"{report.pipeline.failed} outbox rows failed: {db.failures(project_id)}")
        empty = db.one(
            "SELECT count(*) FROM unnest(%s::uuid[]) AS d(id) WHERE NOT EXISTS "
            "(SELECT 1 FROM chunks c WHERE c.source_id = d.id AND c.embedding_model = %s)",
            doc_ids,
            model,
        )
        if empty:
            raise RuntimeError(f"{empty} documents have no chunks")
        report.index_status = await check_index_status(http, project_id, db, model)
        print(
            f"  {report.pipeline.chunks:,} chunks in {report.pipeline.elapsed_s:.1f} s "
            f"({report.pipeline.chunks_per_s:.2f} chunks/s)",
            flush=True,
        )

        sizes = measure_sizes(db, model)
        report.sizes = {
            "chunks": sizes.chunks,
            "hnsw_index": sizes.hnsw_index,  # type: ignore[dict-item]
            "table_total_kb": round(sizes.table_kb, 1),
            "heap_toast_kb": round(sizes.heap_toast_kb, 1),
            "hnsw_kb": round(sizes.hnsw_kb, 1),
            "gin_kb": round(sizes.gin_kb, 1),
            "table_total_kb_per_1000": round(sizes.per_1000(sizes.table_kb), 1),
            "heap_toast_kb_per_1000": round(sizes.per_1000(sizes.heap_toast_kb), 1),
            "hnsw_kb_per_1000": round(sizes.per_1000(sizes.hnsw_kb), 1),
            "gin_kb_per_1000": round(sizes.per_1000(sizes.gin_kb), 1),
        }

        print(f"freshness: {args.probes} single documents, one at a time, on the idle system ...", flush=True)
        report.freshness = await run_freshness(http, db, project_id, args.probes, worker)
        return db.chunk_texts(doc_ids, model)


def _judge(report: Report) -> None:
    assert report.pipeline and report.direct and report.freshness
    p, d = report.pipeline, report.direct
    if p.cpu["ours_cpu_s"] and p.chunks and d.chunks:
        report.cpu_ratio = (d.cpu["ours_cpu_s"] / d.chunks) / (p.cpu["ours_cpu_s"] / p.chunks)
    report.ratio = (
        report.pipeline.chunks_per_s / report.direct.chunks_per_s if report.direct.chunks_per_s else 0
    )
    checks = [
        (
            f"pipeline / direct chunks/s >= {TARGET_RATIO}",
            f"{report.ratio:.2f}",
            report.ratio >= TARGET_RATIO,
        ),
        (
            f"freshness p50 < {TARGET_FRESHNESS_P50_S:g} s",
            f"{report.freshness.p50_s:.2f} s",
            report.freshness.p50_s < TARGET_FRESHNESS_P50_S,
        ),
        (
            "every probe found by search",
            f"{report.freshness.probes - len(report.freshness.missed)}/{report.freshness.probes}",
            not report.freshness.missed,
        ),
    ]
    report.targets = [{"target": name, "measured": value, "pass": ok} for name, value, ok in checks]


def print_report(report: Report) -> None:
    p, d, f, s = report.pipeline, report.direct, report.freshness, report.sizes
    assert p and d and f
    print()
    print(
        f"model {report.model}; {report.threads} embedding thread(s) on both sides; worker max_jobs "
        f"{report.max_jobs}; batch_size {report.batch_size}; chunk_tokens {report.chunk_tokens}; "
        f"{report.cores} cores"
    )
    print(
        f"corpus: {p.documents:,} SciFact documents -> {p.chunks:,} chunks, {p.tokens:,} tokens "
        f"({p.chunks / p.documents:.2f} chunks/doc, {p.tokens / max(p.chunks, 1):.0f} tokens/chunk)"
    )
    print()
    header = (
        f"{'throughput':<44} {'chunks':>7} {'seconds':>9} {'chunks/s':>9} {'CPU-s/chunk':>12} "
        f"{'CPU ours':>9} {'others':>7}"
    )
    print(header)
    print("-" * len(header))
    for label, n, seconds, rate, cpu in (
        (f"pipeline (API + worker, {p.clients} clients)", p.chunks, p.elapsed_s, p.chunks_per_s, p.cpu),
        (f"direct (embed_passages, batches of {d.batch_size})", d.chunks, d.elapsed_s, d.chunks_per_s, d.cpu),
    ):
        print(
            f"{label:<44} {n:>7,} {seconds:>9.1f} {rate:>9.2f} {cpu['ours_cpu_s'] / max(n, 1):>12.3f} "
            f"{cpu['ours_pct']:>8.0f}% {cpu['others_pct']:>6.0f}%"
        )
    print(f"{'ratio pipeline / direct':<44} {'':>7} {'':>9} {report.ratio:>9.2f} {report.cpu_ratio:>12.2f}")
    print(
        "(CPU-s/chunk counts the bench, API, worker, PostgreSQL and Redis; its ratio, direct / pipeline, is\n"
        " the pipeline's efficiency whatever else the machine runs. 'others' is CPU used by other programs.)"
    )
    print(f"(all {p.documents:,} POSTs answered within {p.post_s:.1f} s of the first)")
    print()
    header = f"{'freshness (write 201 -> found by search)':<44} {'p50':>7} {'p95':>7} {'max':>7}"
    print(header)
    print("-" * len(header))
    print(
        f"{f'{f.probes} single documents, idle system (s)':<44} "
        f"{f.p50_s:>7.2f} {f.p95_s:>7.2f} {f.max_s:>7.2f}"
    )
    print(f"{'  of which outbox row written -> done, p50 (s)':<44} {f.indexed_p50_s:>7.2f}")
    for line in f.missed:
        print(f"  MISSED {line}")
    print()
    header = f"{'size (' + str(s['chunks']) + ' chunks)':<44} {'KB':>10} {'KB/1,000 chunks':>16}"
    print(header)
    print("-" * len(header))
    for label, key in (
        ("chunks table, total (heap+TOAST+indexes)", "table_total_kb"),
        ("  heap + TOAST", "heap_toast_kb"),
        (f"  HNSW {s['hnsw_index']}", "hnsw_kb"),
        ("  GIN ix_chunks_tsv", "gin_kb"),
    ):
        print(f"{label:<44} {s[key]:>10,.0f} {s[key + '_per_1000']:>16,.0f}")
    print()
    for target in report.targets:
        print(f"  {'PASS' if target['pass'] else 'MISS'}  {target['target']:<40} {target['measured']}")
    busy = max(p.cpu["others_pct"], d.cpu["others_pct"])
    if busy >= 10:
        print(f"\nWARNING: other processes used up to {busy:.0f}% of the machine during a timed phase")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=["e5", "static"], default="e5", help="embedding provider")
    parser.add_argument("--docs", type=int, default=2000, help="SciFact documents to ingest")
    parser.add_argument(
        "--threads",
        type=int,
        default=len(os.sched_getaffinity(0)),
        help="embedding threads, worker and direct side alike (default: the cores available)",
    )
    parser.add_argument("--max-jobs", type=int, default=None, help="worker max_jobs (default: the setting)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent clients POSTing documents")
    parser.add_argument("--probes", type=int, default=30, help="single documents for the freshness lag")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        with embedded_services("bench-ingest") as (embedded, workdir):
            report = measure_all(args, workdir, embedded)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything the bench started", file=sys.stderr)
        return 130
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2, default=str) + "\n")
        print(f"\nnumbers written to {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
