"""Measure authenticated project reads (rps, p50, p99) of one API worker against a bare Starlette baseline.

The run is self-contained: embedded PostgreSQL + Redis under a temporary data dir, a migrated and seeded
database (one user with 200 projects, 2,000 projects of other users), then the real app and the baseline
(bench/baseline_app.py) each served by one uvicorn worker pinned to one core while the load generator
(wrk, or a slower Python fallback) runs pinned to the other core. Everything started is stopped at the end,
also on Ctrl-C or SIGTERM.

    python bench/crud.py [--duration 10] [--warmup 3] [--concurrency 32] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import psutil
import psycopg

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
sys.path.insert(0, str(ROOT))

from common import embedded_services, py_spy  # noqa: E402

from core.db import libpq_url  # noqa: E402
from core.embedded import EmbeddedServices, free_port  # noqa: E402
from core.migrate import upgrade  # noqa: E402
from core.security import create_access_token  # noqa: E402

DATABASE = "v1tr0_bench"
SECRET = "bench-secret-key-that-is-long-enough-for-hs256-0123456789"  # noqa: S105 - throwaway
USER_PROJECTS = 200
OTHER_PROJECTS = 2_000
OTHER_USERS = 40
CLIENTS = 60
PAGE_LIMIT = 20

TARGET_RPS = 1_000
TARGET_P50_MS = 10.0
TARGET_RATIO = 0.5

SINGLE = "single-project read"
PAGE = "20-row page"


# --------------------------------------------------------------------------------------------- seeding

TITLE_KINDS = [
    "Web corporativa",
    "App móvil",
    "Migración a la nube",
    "Auditoría de seguridad",
    "Portal de clientes",
    "Integración ERP",
    "Tienda online",
    "Cuadro de mando",
    "Rediseño de marca",
    "Automatización de facturas",
    "Chatbot de soporte",
    "Intranet",
]
SENTENCES = [
    "El cliente quiere lanzar antes del cierre del trimestre.",
    "Incluye formación al equipo interno y documentación de uso.",
    "Hay que coordinar con el proveedor de hosting actual.",
    "La primera fase cubre el análisis de requisitos y los prototipos.",
    "Se reutilizan los componentes del proyecto anterior cuando sea posible.",
    "El alcance excluye la migración de datos históricos.",
    "Reuniones semanales de seguimiento con el responsable del cliente.",
    "Prioridad en accesibilidad (WCAG 2.1 AA) y rendimiento móvil.",
    "El presupuesto incluye soporte durante tres meses tras la entrega.",
    "Pendiente de validar el contrato de mantenimiento.",
]
CITIES = ["Madrid", "Barcelona", "Valencia", "Sevilla", "Bilbao", "Zaragoza", "Málaga", "Ciudad de México"]
STATUS_WEIGHTS = {"planned": 2, "in-progress": 5, "completed": 3, "on-hold": 1, "cancelled": 1}
PRIORITY_WEIGHTS = {"low": 2, "medium": 5, "high": 3, "urgent": 1}
PROJECT_COLUMNS = (
    "id",
    "title",
    "description",
    "status",
    "progress",
    "priority",
    "start_date",
    "end_date",
    "deadline",
    "budget",
    "hourly_rate",
    "estimated_hours",
    "actual_hours",
    "client_id",
    "owner_id",
    "created_at",
    "updated_at",
)


@dataclass
class Seed:
    user_id: uuid.UUID
    user_project_ids: list[uuid.UUID]
    other_project_ids: list[uuid.UUID]


def _weighted(rng: random.Random, weights: dict[str, int]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _project_row(
    rng: random.Random, *, owner_id: uuid.UUID, client: tuple[uuid.UUID, str] | None, now: datetime
) -> tuple[Any, ...]:
    status = _weighted(rng, STATUS_WEIGHTS)
    progress = {"planned": 0, "completed": 100}.get(status, rng.randint(5, 95))
    created_at = now - timedelta(days=rng.uniform(1, 730))
    start = created_at.date() + timedelta(days=rng.randint(0, 30))
    end = start + timedelta(days=rng.randint(30, 240))
    estimated = Decimal(rng.randint(40, 1_200))
    rate = Decimal(rng.choice([45, 55, 60, 75, 90]))
    title = rng.choice(TITLE_KINDS) + (f" — {client[1]}" if client else f" {rng.randint(1, 99)}")
    return (
        uuid.uuid4(),
        title,
        " ".join(rng.sample(SENTENCES, rng.randint(2, 5))),
        status,
        progress,
        _weighted(rng, PRIORITY_WEIGHTS),
        start,
        end,
        end - timedelta(days=rng.randint(0, 14)) if rng.random() < 0.7 else None,
        (estimated * rate * Decimal("1.15")).quantize(Decimal("0.01")),
        rate,
        estimated,
        (estimated * Decimal(progress) / 100).quantize(Decimal("0.01")),
        client[0] if client else None,
        owner_id,
        created_at,
        created_at + timedelta(hours=rng.uniform(0, 24 * 60)),
    )


def seed(database_url: str) -> Seed:
    """One bench user owning 200 projects, and 2,000 projects of 40 other users it must never see."""
    rng = random.Random(20_260_101)
    now = datetime.now(UTC)
    user_id = uuid.uuid4()
    others = [uuid.uuid4() for _ in range(OTHER_USERS)]
    users = [(user_id, "ana.garcia@example.com", "Ana García")] + [
        (other, f"user{i:03d}@example.com", f"Usuario {i}") for i, other in enumerate(others)
    ]
    clients = [
        (uuid.uuid4(), f"Cliente {i:02d} S.L.", rng.choice(CITIES), rng.choice([user_id, *others]))
        for i in range(CLIENTS)
    ]
    projects: list[tuple[Any, ...]] = []
    members: list[tuple[uuid.UUID, uuid.UUID, uuid.UUID, str]] = []
    for index in range(USER_PROJECTS + OTHER_PROJECTS):
        owner = user_id if index < USER_PROJECTS else rng.choice(others)
        client = rng.choice(clients) if rng.random() < 0.8 else None
        row = _project_row(rng, owner_id=owner, client=(client[0], client[1]) if client else None, now=now)
        projects.append(row)
        members.append((uuid.uuid4(), row[0], owner, "owner"))
    with psycopg.connect(libpq_url(database_url)) as conn, conn.cursor() as cur:
        with cur.copy("COPY users (id, email, full_name, is_active, is_admin) FROM STDIN") as copy:
            for row in users:
                copy.write_row((*row, True, False))
        with cur.copy("COPY clients (id, name, city, status, priority, created_by_id) FROM STDIN") as copy:
            for cid, name, city, creator in clients:
                copy.write_row((cid, name, city, "active", "medium", creator))
        with cur.copy(f"COPY projects ({', '.join(PROJECT_COLUMNS)}) FROM STDIN") as copy:
            for row in projects:
                copy.write_row(row)
        with cur.copy("COPY project_members (id, project_id, user_id, role) FROM STDIN") as copy:
            for row in members:
                copy.write_row(row)
        conn.commit()
        conn.autocommit = True
        cur.execute("ANALYZE")
    ids = [row[0] for row in projects]
    return Seed(user_id, ids[:USER_PROJECTS], ids[USER_PROJECTS:])


def _database_url(admin_url: str, name: str) -> str:
    head, _, query = admin_url.partition("?")
    return f"{head.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def create_database(admin_url: str) -> str:
    with psycopg.connect(libpq_url(admin_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DATABASE}"')
    return _database_url(admin_url, DATABASE)


# --------------------------------------------------------------------------------------------- servers


def _pinned(core: int | None) -> Callable[[], None] | None:
    if core is None:
        return None
    return lambda: os.sched_setaffinity(0, {core})


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


@contextlib.contextmanager
def serve(
    name: str, target: list[str], *, env: dict[str, str], core: int | None, logs: Path, probe: str
) -> Iterator[Server]:
    """One uvicorn worker serving `target`, pinned to `core`; stopped (SIGTERM, then SIGKILL) on exit."""
    port = free_port()
    log_path = logs / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                *target,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-access-log",
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches the bench only; it stops the server in order
            preexec_fn=_pinned(core),
        )
        server = Server(name, f"http://127.0.0.1:{port}", process, log_path)
        try:
            _wait_ready(server, probe)
            yield server
        finally:
            _stop(process)


def _wait_ready(server: Server, probe: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{server.log_tail()}")
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(server.base_url + probe, timeout=2.0).status_code < 500:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not answer within {timeout:.0f} s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --------------------------------------------------------------------------------------------- load


@dataclass
class Measurement:
    requests: int  # answered requests, whatever their status
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int  # non-200 answers plus connect/read/write/timeout errors

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


WRK_SCRIPT = """
local paths = {%(paths)s}
local prepared = {}
local next_index = 1
non200 = 0

function setup(thread)
  threads = threads or {}
  table.insert(threads, thread)
end

function init(args)
  for i, path in ipairs(paths) do
    prepared[i] = wrk.format("GET", path, {["Authorization"] = "%(authorization)s"})
  end
end

function request()
  local req = prepared[next_index]
  next_index = next_index %% #prepared + 1
  return req
end

function response(status, headers, body)
  if status ~= 200 then non200 = non200 + 1 end
end

function done(summary, latency, requests)
  local bad = 0
  for _, thread in ipairs(threads) do bad = bad + thread:get("non200") end
  local e = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"non200": %%d, "socket_errors": %%d}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    bad, e.connect + e.read + e.write + e.timeout))
end
"""


def ensure_wrk() -> bool:
    """wrk if it is installed, or installable now (Debian package `wrk`, when running as root)."""
    if shutil.which("wrk"):
        return True
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        return False
    print("wrk not found: installing the Debian package `wrk` ...", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-qq", "wrk"]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, check=False)
        subprocess.run(install, env=env, capture_output=True, check=False)
    return shutil.which("wrk") is not None


class LoadGenerator:
    """Fixed-concurrency, fixed-duration GET load cycling over a list of paths, with a bearer token."""

    def __init__(self, *, concurrency: int, core: int | None, workdir: Path, use_wrk: bool) -> None:
        self.concurrency = concurrency
        self.core = core
        self.workdir = workdir
        self.use_wrk = use_wrk
        where = f"pinned to core {core}" if core is not None else "unpinned (fewer than 2 cores)"
        if use_wrk:
            banner = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
            name = (banner.stdout or banner.stderr).split(" [")[0].strip() or "wrk"
            self.description = f"{name}, 1 thread, {concurrency} connections, {where}"
        else:
            self.description = (
                f"Python httpx FALLBACK (wrk unavailable), {concurrency} keep-alive connections, {where}; "
                "it tops out below the server's rate, so the rps are lower bounds"
            )

    def run(self, base_url: str, paths: list[str], token: str, seconds: float) -> Measurement:
        if self.use_wrk:
            return self._run_wrk(base_url, paths, token, seconds)
        return self._run_python(base_url, paths, token, seconds)

    def _run_wrk(self, base_url: str, paths: list[str], token: str, seconds: float) -> Measurement:
        script = self.workdir / "load.lua"
        script.write_text(
            WRK_SCRIPT
            % {"paths": ", ".join(json.dumps(p) for p in paths), "authorization": f"Bearer {token}"}
        )
        command = [
            "wrk", "-t1", f"-c{self.concurrency}", f"-d{max(round(seconds), 1)}s", "--timeout", "10s",
            "-s", str(script), base_url,
        ]  # fmt: skip
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            check=False,
            preexec_fn=_pinned(self.core),
        )
        line = next((ln for ln in done.stdout.splitlines() if ln.startswith("WRK_RESULT ")), None)
        if done.returncode != 0 or line is None:
            raise RuntimeError(f"wrk failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        data = json.loads(line.removeprefix("WRK_RESULT "))
        return Measurement(
            requests=data["requests"],
            seconds=data["duration_us"] / 1e6,
            p50_ms=data["p50_us"] / 1000,
            p99_ms=data["p99_us"] / 1000,
            errors=data["non200"] + data["socket_errors"],
        )

    def _run_python(self, base_url: str, paths: list[str], token: str, seconds: float) -> Measurement:
        previous = os.sched_getaffinity(0)
        if self.core is not None:
            os.sched_setaffinity(0, {self.core})
        try:
            latencies, errors, elapsed = asyncio.run(
                _python_load(base_url, paths, token, concurrency=self.concurrency, seconds=seconds)
            )
        finally:
            os.sched_setaffinity(0, previous)
        if not latencies:
            return Measurement(errors, elapsed, float("nan"), float("nan"), errors)
        latencies.sort()
        p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        return Measurement(
            len(latencies) + errors, elapsed, statistics.median(latencies) * 1000, p99 * 1000, errors
        )


async def _python_load(
    base_url: str, paths: list[str], token: str, *, concurrency: int, seconds: float
) -> tuple[list[float], int, float]:
    """Latencies of the 200 answers, the error count and the elapsed time."""
    latencies: list[float] = []
    errors = 0
    counter = itertools.count()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, limits=limits, timeout=10.0) as client:
        started = time.perf_counter()
        deadline = started + seconds

        async def user() -> None:
            nonlocal errors
            while (sent := time.perf_counter()) < deadline:
                try:
                    ok = (await client.get(paths[next(counter) % len(paths)])).status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    latencies.append(time.perf_counter() - sent)
                else:
                    errors += 1

        await asyncio.gather(*(user() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return latencies, errors, elapsed


# --------------------------------------------------------------------------------------------- checks


def _expect(response: httpx.Response, status: int, what: str) -> httpx.Response:
    if response.status_code != status:
        raise RuntimeError(f"{what}: expected {status}, got {response.status_code}: {response.text[:300]}")
    return response


def check_app(server: Server, data: Seed, token: str) -> list[str]:
    """The app answers what the load will ask for, and scoping holds; returns the first page's ids."""
    auth = {"Authorization": f"Bearer {token}"}
    mine, theirs = data.user_project_ids[0], data.other_project_ids[0]
    with httpx.Client(base_url=server.base_url, timeout=10.0) as http:
        body = _expect(http.get(f"/api/v1/projects/{mine}", headers=auth), 200, "own project").json()
        if body["id"] != str(mine):
            raise RuntimeError(f"own project: wrong body {body}")
        _expect(http.get(f"/api/v1/projects/{theirs}", headers=auth), 404, "another user's project")
        _expect(http.get(f"/api/v1/projects/{mine}"), 401, "no token")
        page = _expect(http.get(f"/api/v1/projects?limit={PAGE_LIMIT}", headers=auth), 200, "page").json()
    if page["total"] != USER_PROJECTS or len(page["items"]) != PAGE_LIMIT:
        raise RuntimeError(f"page: total {page['total']}, {len(page['items'])} items")
    return [item["id"] for item in page["items"]]


def check_baseline(server: Server, data: Seed, app_page_ids: list[str]) -> None:
    """The baseline returns the same rows as the app, so both do the same database work."""
    with httpx.Client(base_url=server.base_url, timeout=10.0) as http:
        mine = data.user_project_ids[0]
        body = _expect(http.get(f"/projects/{mine}"), 200, "baseline project").json()
        page = _expect(http.get(f"/projects?limit={PAGE_LIMIT}"), 200, "baseline page").json()
    if body["id"] != str(mine) or [item["id"] for item in page["items"]] != app_page_ids:
        raise RuntimeError("the baseline's rows differ from the app's")
    if page["total"] != USER_PROJECTS:
        raise RuntimeError(f"baseline page total {page['total']}")


# --------------------------------------------------------------------------------------------- run


@dataclass
class Row:
    endpoint: str
    server: str
    path: str
    requests: int
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    server_cpu_us: float  # CPU time of the server process per answered request


@dataclass
class Report:
    load_generator: str
    duration_s: float
    warmup_s: float
    concurrency: int
    load_average_before: float  # 1-minute load average: other work on the machine skews every number
    load_average_after: float = 0.0
    rows: list[Row] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)

    def row(self, endpoint: str, server: str) -> Row:
        return next(r for r in self.rows if r.endpoint == endpoint and r.server == server)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def profile(
    server: Server, load: LoadGenerator, paths: list[str], token: str, *, out: Path, seconds: float
) -> None:
    """Sample the app's worker with py-spy while it serves the single-project load."""
    spy = py_spy()
    if spy is None:
        print("--profile: py-spy is not on PATH (pip install py-spy); skipped", file=sys.stderr)
        return
    formats = {".svg": "flamegraph", ".json": "speedscope"}
    recorder = subprocess.Popen(
        [
            spy, "record", "--pid", str(server.process.pid), "--duration", str(max(round(seconds), 1)),
            "--rate", "200", "--format", formats.get(out.suffix, "raw"), "--output", str(out),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        time.sleep(0.5)
        load.run(server.base_url, paths, token, seconds)
        recorder.wait(30)
    finally:
        _stop(recorder)
    print(f"profile of the app under the {SINGLE} load written to {out}")


def measure_all(args: argparse.Namespace, workdir: Path, embedded: EmbeddedServices) -> Report:
    cores = sorted(os.sched_getaffinity(0))
    server_core, load_core = (cores[0], cores[1]) if len(cores) >= 2 else (None, None)
    use_wrk = not args.python_load and ensure_wrk()
    load = LoadGenerator(concurrency=args.concurrency, core=load_core, workdir=workdir, use_wrk=use_wrk)
    report = Report(load.description, args.duration, args.warmup, args.concurrency, os.getloadavg()[0])

    print("creating, migrating and seeding the database ...", flush=True)
    database_url = create_database(embedded.database_url)
    upgrade(database_url)
    data = seed(database_url)
    token = create_access_token(user_id=data.user_id, secret=SECRET, ttl_seconds=24 * 3600)

    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    app_env = {
        **env,
        "DATABASE_URL": database_url,
        "REDIS_URL": embedded.redis_url,
        "V1TR0_AUTH__SECRET_KEY": SECRET,
        "V1TR0_LOG__LEVEL": "WARNING",
        "V1TR0_DATA_DIR": str(workdir / "app"),
    }
    baseline_env = {**env, "DATABASE_URL": libpq_url(database_url), "BENCH_USER_ID": str(data.user_id)}
    ids = [str(i) for i in data.user_project_ids]
    plans = [
        (
            "app",
            ["api.app:create_app", "--factory"],
            app_env,
            "/health/live",
            {SINGLE: ("/api/v1/projects/{id}", ids), PAGE: (f"/api/v1/projects?limit={PAGE_LIMIT}", None)},
        ),
        (
            "baseline",
            ["baseline_app:create_app", "--factory", "--app-dir", str(BENCH_DIR)],
            baseline_env,
            f"/projects?limit={PAGE_LIMIT}",
            {SINGLE: ("/projects/{id}", ids), PAGE: (f"/projects?limit={PAGE_LIMIT}", None)},
        ),
    ]
    app_page_ids: list[str] = []
    for name, target, server_env, probe, endpoints in plans:
        with serve(name, target, env=server_env, core=server_core, logs=workdir, probe=probe) as server:
            if name == "app":
                app_page_ids = check_app(server, data, token)
            else:
                check_baseline(server, data, app_page_ids)
            for endpoint, (template, cycle) in endpoints.items():
                paths = [template.format(id=i) for i in cycle] if cycle else [template]
                print(
                    f"{name}: GET {template} ({args.warmup:g} s warm-up, {args.duration:g} s) ...", flush=True
                )
                if args.warmup > 0:
                    load.run(server.base_url, paths, token, args.warmup)
                cpu_before = _cpu_seconds(server.process.pid)
                m = load.run(server.base_url, paths, token, args.duration)
                cpu_us = (_cpu_seconds(server.process.pid) - cpu_before) * 1e6 / max(m.requests, 1)
                report.rows.append(
                    Row(endpoint, name, template, m.requests, m.rps, m.p50_ms, m.p99_ms, m.errors, cpu_us)
                )
                if name == "app" and endpoint == SINGLE and args.profile:
                    profile(server, load, paths, token, out=args.profile, seconds=args.duration)
            if server.process.poll() is not None:
                raise RuntimeError(f"{name} died during the run:\n{server.log_tail()}")
    report.load_average_after = os.getloadavg()[0]
    _judge(report)
    return report


def _cpu_seconds(pid: int) -> float:
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def _judge(report: Report) -> None:
    for endpoint in (SINGLE, PAGE):
        app, base = report.row(endpoint, "app"), report.row(endpoint, "baseline")
        report.ratios[endpoint] = app.rps / base.rps if base.rps else 0.0
    single = report.row(SINGLE, "app")
    checks = [
        (f"{SINGLE} >= {TARGET_RPS:,} rps", f"{single.rps:,.0f} rps", single.rps >= TARGET_RPS),
        (f"{SINGLE} p50 < {TARGET_P50_MS:g} ms", f"{single.p50_ms:.2f} ms", single.p50_ms < TARGET_P50_MS),
    ]
    for endpoint in (SINGLE, PAGE):
        ratio = report.ratios[endpoint]
        checks.append(
            (f"{endpoint} >= {TARGET_RATIO:.0%} of baseline rps", f"{ratio:.0%}", ratio >= TARGET_RATIO)
        )
    report.targets = [{"target": name, "measured": value, "pass": ok} for name, value, ok in checks]


def print_report(report: Report) -> None:
    print()
    print(f"load generator: {report.load_generator}")
    print(
        f"servers: one uvicorn worker each, pinned to one core; PostgreSQL and Redis unpinned; "
        f"{report.warmup_s:g} s warm-up then {report.duration_s:g} s per endpoint"
    )
    print(
        f"machine load average (1 min): {report.load_average_before:.2f} before, "
        f"{report.load_average_after:.2f} after (other processes on these cores lower every number)"
    )
    print()
    header = (
        f"{'endpoint':<22} {'server':<9} {'path':<34} {'rps':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} "
        f"{'cpu us/req':>10}"
    )
    print(header)
    print("-" * len(header))
    for r in report.rows:
        print(
            f"{r.endpoint:<22} {r.server:<9} {'GET ' + r.path:<34} {r.rps:>9,.0f} "
            f"{r.p50_ms:>8.2f} {r.p99_ms:>8.2f} {r.errors:>7} {r.server_cpu_us:>10,.0f}"
        )
    print()
    for endpoint, ratio in report.ratios.items():
        print(f"app_rps / baseline_rps, {endpoint}: {ratio:.2f}")
    print()
    for target in report.targets:
        print(f"  {'PASS' if target['pass'] else 'MISS'}  {target['target']:<42} {target['measured']}")
    print(
        f"\n(with {report.concurrency} connections in a closed loop, p50 ~ {report.concurrency} / rps: "
        f"p50 < {TARGET_P50_MS:g} ms needs about {report.concurrency * 1000 / TARGET_P50_MS:,.0f} rps)"
    )
    errors = sum(r.errors for r in report.rows)
    if errors:
        print(f"\nINVALID RUN: {errors} non-200 answers or socket errors (see the errors column)")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per endpoint")
    parser.add_argument("--warmup", type=float, default=3.0, help="unmeasured seconds before each")
    parser.add_argument("--concurrency", type=int, default=32, help="open connections")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers here")
    parser.add_argument("--python-load", action="store_true", help="use the Python load generator, not wrk")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="PATH",
        help="py-spy profile of the app (.svg flamegraph, .json, else raw)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Explicitly, also for SIGINT: a shell starts background jobs with SIGINT ignored.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _interrupt)
    try:
        with embedded_services("bench") as (embedded, workdir):
            report = measure_all(args, workdir, embedded)
    except KeyboardInterrupt:
        print("\ninterrupted: stopping everything the bench started", file=sys.stderr)
        return 130
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(asdict(report), indent=2) + "\n")
        print(f"\nnumbers written to {args.json}")
    return 1 if any(r.errors for r in report.rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
