"""Shared helpers of the retrieval benches: embedded servers, a fresh migrated database, BEIR data, caches."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
CACHE_DIR = ROOT / ".v1tr0" / "bench-cache"
# The project root goes first: bench/retrieval.py must not shadow the `retrieval` package.
while str(ROOT) in sys.path:
    sys.path.remove(str(ROOT))
sys.path.insert(0, str(ROOT))

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAGAS_DO_NOT_TRACK", "true")

from core.db import libpq_url  # noqa: E402
from core.embedded import EmbeddedServices, free_port  # noqa: E402

MODELS = {"e5": "e5/multilingual-e5-small", "static": "static/tokenlearn-64"}

# A bench is a few users asking many times a second: the per-user, per-project and per-IP budgets of the
# costly routes (api/limits.py) would answer 429. Added to the environment of the servers benches start.
UNLIMITED = {
    f"V1TR0_LIMITS__{budget}__{scope}": "100000000"
    for budget in ("SEARCH", "GLOBAL_SEARCH", "INSIGHTS", "SUGGESTIONS", "UPLOADS")
    for scope in ("PER_USER", "PER_PROJECT", "PER_IP")
}


# --------------------------------------------------------------------------------------------- data


@dataclass(frozen=True)
class Doc:
    id: str
    title: str
    text: str

    @property
    def content(self) -> str:
        """What is embedded, indexed and searched: the product's chunk form, `[title]` header + text."""
        return f"[{self.title}]\n{self.text}" if self.title else self.text


@dataclass
class BeirSet:
    name: str
    docs: list[Doc]
    queries: dict[str, str]  # query id -> text, only queries that have judgements
    qrels: dict[str, set[str]]  # query id -> relevant doc ids (binary)


def _read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)


def load_beir(folder: Path, split: str | None = None) -> BeirSet:
    """A BEIR folder: corpus.jsonl and queries[_SPLIT].jsonl + qrels[_SPLIT].tsv (or the unsplit names)."""
    folder = folder.resolve()
    suffix = f"_{split}" if split else ""
    queries_path, qrels_path = folder / f"queries{suffix}.jsonl", folder / f"qrels{suffix}.tsv"
    if not queries_path.exists():  # a dataset without splits (xquad_es)
        queries_path, qrels_path = folder / "queries.jsonl", folder / "qrels.tsv"
    docs = [
        Doc(str(d["_id"]), str(d.get("title") or "").strip(), str(d["text"]))
        for d in _read_jsonl(folder / "corpus.jsonl")
    ]
    qrels: dict[str, set[str]] = {}
    with qrels_path.open(encoding="utf-8") as handle:
        for n, line in enumerate(handle):
            parts = line.rstrip("\n").split("\t")
            if n == 0 and parts[0] == "query-id":
                continue
            if len(parts) >= 3 and float(parts[2]) > 0:
                qrels.setdefault(parts[0], set()).add(parts[1])
    queries = {str(q["_id"]): str(q["text"]) for q in _read_jsonl(queries_path) if str(q["_id"]) in qrels}
    return BeirSet(folder.name + (f"/{split}" if split else ""), docs, queries, qrels)


# --------------------------------------------------------------------------------------------- embeddings


def make_embedder(model: str, threads: int = 1) -> Any:
    """The product's own embedder classes (core.providers.embeddings)."""
    from core.providers.embeddings import E5Embedder, StaticEmbedder

    if model == "e5":
        return E5Embedder(threads=threads)
    if model == "static":
        return StaticEmbedder()
    raise ValueError(f"unknown model {model!r}")


def cached_embeddings(
    model: str,
    texts: Sequence[str],
    *,
    kind: str = "passage",
    threads: int = 2,
    batch: int = 32,
    label: str = "",
    cache_only: bool = False,
    partial_ok: bool = False,
) -> np.ndarray | None:
    """Passage (or query) embeddings of `texts`, cached in .v1tr0/bench-cache keyed by model + texts hash.

    The e5 run is long (tens of minutes for SciFact), so partial progress is checkpointed every few
    batches and a rerun resumes where the last one stopped."""
    import asyncio

    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    key = f"{'query-' if kind == 'query' else ''}{model}-{len(texts)}-{digest.hexdigest()[:16]}"
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    final, partial = CACHE_DIR / f"{key}.npy", CACHE_DIR / f"{key}.partial.npy"
    if final.exists():
        vectors = np.load(final)
        print(f"embeddings: {len(texts):,} {model} {kind} vectors from cache {final.name}", flush=True)
        return vectors
    if partial_ok and partial.exists():
        # Another run may be writing this checkpoint right now: read a copy, retrying a torn read.
        for _ in range(10):
            try:
                copy = partial.with_suffix(".read.npy")
                shutil.copyfile(partial, copy)
                vectors = np.load(copy)
                copy.unlink(missing_ok=True)
                print(f"embeddings: PARTIAL {model} cache, {len(vectors):,}/{len(texts):,} texts", flush=True)
                return vectors
            except (ValueError, OSError, EOFError):
                time.sleep(2)
    if cache_only:
        return None
    done: list[np.ndarray] = []
    start = 0
    if partial.exists():
        done = [np.load(partial)]
        start = len(done[0])
        print(f"embeddings: resuming {model} at {start:,}/{len(texts):,} from {partial.name}", flush=True)
    embedder = make_embedder(model, threads=threads)
    loop = asyncio.new_event_loop()
    began = last_save = last_print = time.monotonic()
    for lo in range(start, len(texts), batch):
        chunk = list(texts[lo : lo + batch])
        if kind == "query":
            vectors = [loop.run_until_complete(embedder.embed_query(text)) for text in chunk]
        else:
            vectors = loop.run_until_complete(embedder.embed_passages(chunk))
        done.append(np.asarray(vectors, dtype=np.float32))
        n = lo + len(chunk)
        if time.monotonic() - last_print > 10 or n == len(texts):
            last_print = time.monotonic()
            rate = (n - start) / max(time.monotonic() - began, 1e-9)
            eta = (len(texts) - n) / rate if rate else 0.0
            print(
                f"embeddings {label or model} ({model} {kind}): {n:,}/{len(texts):,} "
                f"({rate:.1f}/s, eta {eta / 60:.1f} min)",
                flush=True,
            )
        if time.monotonic() - last_save > 60 or n == len(texts):
            np.save(partial, np.concatenate(done))
            last_save = time.monotonic()
    loop.close()
    vectors = np.concatenate(done) if done else np.zeros((0, embedder.dimensions), np.float32)
    np.save(final, vectors)
    partial.unlink(missing_ok=True)
    return vectors


class LookupEmbedder:
    """The real model's name and size, answering from precomputed (cached) vectors.

    Lets replace_chunks and HybridRetriever run their real code without re-running a 40-minute model."""

    def __init__(self, name: str, dimensions: int, vectors: dict[str, list[float]]) -> None:
        self.name = name
        self.dimensions = dimensions
        self.vectors = vectors

    async def embed_passages(self, texts: list[str]) -> list[list[float]]:
        return [self.vectors[text] for text in texts]

    async def embed_query(self, text: str) -> list[float]:
        return self.vectors[text]


DOC_NAMESPACE = uuid.UUID("5c1f4a53-8f1e-4a4c-9a57-0c9d35b0b7e1")


async def index_documents(
    resources: Any, project_id: uuid.UUID, docs: Sequence[Doc], embedder: Any, *, batch: int = 500
) -> None:
    """One chunk per document (`[title]` header + text, the document's detected language, the product's
    hash and token count) written through ingestion.indexer.replace_chunks; then ANALYZE."""
    from core.models import SourceType
    from ingestion.chunkers import ChunkDraft, detect_language
    from ingestion.indexer import replace_chunks

    for lo in range(0, len(docs), batch):
        async with resources.sessionmaker() as session, session.begin():
            for doc in docs[lo : lo + batch]:
                draft = ChunkDraft(
                    source_type=SourceType.DOCUMENT,
                    chunk_index=0,
                    content=doc.content,
                    meta={"title": doc.title, "beir_id": doc.id},
                    lang=detect_language(doc.text),
                )
                await replace_chunks(
                    session,
                    embedder=embedder,
                    project_id=project_id,
                    source_id=uuid.uuid5(DOC_NAMESPACE, doc.id),
                    source_types=[SourceType.DOCUMENT],
                    drafts=[draft],
                )
        if len(docs) > batch:
            print(f"loading chunks: {min(lo + batch, len(docs)):,}/{len(docs):,}", flush=True)
    async with resources.engine.begin() as conn:  # committed: ANALYZE's statistics are transactional
        await conn.exec_driver_sql("ANALYZE chunks")
        common = await conn.exec_driver_sql(
            "SELECT count(*) FILTER (WHERE f > 0.1), count(*) FROM pg_stats s, "
            "unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) AS e(l, f) "
            "WHERE s.tablename = 'chunks' AND s.attname = 'tsv' AND e.l IS NOT NULL"
        )
        above, tracked = common.one()
    print(f"ANALYZE chunks: {tracked} lexemes in pg_stats, {above} of them in > 10% of chunks", flush=True)


# --------------------------------------------------------------------------------------------- servers


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


@contextlib.contextmanager
def embedded_services(prefix: str) -> Iterator[tuple[EmbeddedServices, Path]]:
    """Embedded PostgreSQL + Redis under a fresh temp dir; stopped and removed on exit (and on SIGTERM)."""
    signal.signal(signal.SIGTERM, _interrupt)
    workdir = Path(tempfile.mkdtemp(prefix=f"v1tr0-{prefix}-"))
    services = EmbeddedServices(workdir / "data", redis_port=free_port())
    try:
        print(f"starting embedded PostgreSQL + Redis under {workdir} ...", flush=True)
        services.start()
        yield services, workdir
    finally:
        services.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def create_database(admin_url: str, name: str) -> str:
    """A fresh database `name` on the server of `admin_url`, migrated to head; returns its URL."""
    import psycopg

    from core.migrate import upgrade

    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    head, _, query = admin_url.partition("?")
    url = f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")
    upgrade(url)
    return url


@dataclass
class Server:
    name: str
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def log_tail(self, lines: int = 30) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""


def _pinned(core: int | None) -> Callable[[], None] | None:
    if core is None:
        return None
    return lambda: os.sched_setaffinity(0, {core})


@contextlib.contextmanager
def serve(
    name: str,
    target: list[str],
    *,
    env: dict[str, str],
    logs: Path,
    probe: str,
    core: int | None = None,
    timeout: float = 120.0,
) -> Iterator[Server]:
    """One uvicorn worker serving `target`; stopped (SIGTERM, then SIGKILL) on exit."""

    port = free_port()
    log_path = logs / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", *target, "--host", "127.0.0.1", "--port", str(port),
             "--no-access-log", "--log-level", "warning"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            preexec_fn=_pinned(core),
        )  # fmt: skip
        server = Server(name, f"http://127.0.0.1:{port}", process, log_path)
        try:
            wait_until_up(name, process, server.base_url + probe, server.log_tail, timeout=timeout)
            yield server
        finally:
            stop_process(process, signal.SIGTERM, timeout=15)


def wait_until_up(
    name: str,
    process: subprocess.Popen[bytes],
    url: str,
    log_tail: Callable[[], str],
    *,
    timeout: float,
    up: Callable[[int], bool] = lambda status: status < 500,
) -> None:
    """Poll `url` until its status satisfies `up`; fail with the log's tail if the process exits first."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log_tail()}")
        with contextlib.suppress(httpx.TransportError):
            if up(httpx.get(url, timeout=2.0).status_code):
                return
        if time.monotonic() > deadline:
            raise RuntimeError(f"{name} did not answer within {timeout:.0f} s:\n{log_tail()}")
        time.sleep(0.1)


def stop_process(process: subprocess.Popen[bytes], sig: signal.Signals, *, timeout: float) -> None:
    """Ask with `sig`, wait up to `timeout`, then kill."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def py_spy() -> str | None:
    """py-spy (a dev dependency): on PATH, or beside this interpreter when the venv is not activated."""
    found = shutil.which("py-spy")
    beside = Path(sys.executable).with_name("py-spy")
    return found or (str(beside) if beside.exists() else None)


# --------------------------------------------------------------------------------------------- stats


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return float(ordered[min(rank, len(ordered)) - 1])


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values)) if values else math.nan


def write_json(path: Path | None, payload: Any) -> None:
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    print(f"\nnumbers written to {path}")
