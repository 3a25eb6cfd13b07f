"""A/B of the read path's database round trips, in one process: the old path against the current one.

    old: SQLAlchemy's pool_pre_ping (a round trip per checkout) + a transaction per request (BEGIN, COMMIT)
    new: a ping only for connections idle >= 1 s (`V1TR0_DB__PING_AFTER_IDLE`) + autocommit for GET +
         the caller and their access to the project in one statement

Both apps are the real `create_app` over the same seeded database (bench/crud.py's seed), called through
httpx's ASGI transport one request at a time, alternating A/B blocks so drift on a noisy machine hits both
alike. It prints the CPU time per request of this process (app + the in-process client, the same for
both) and of the PostgreSQL backends, then the ratios new / old. Round trips per request: old 5 (ping,
BEGIN, user, access, COMMIT), new 1 (user with access).

    python bench/read_path.py [--requests 2000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import httpx
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import create_database, embedded_services
from crud import SECRET, seed

from api import deps
from api.app import create_app
from api.resources import Resources
from core.db import create_engine, create_sessionmaker
from core.security import create_access_token
from core.settings import Settings


def app_settings(database_url: str, redis_url: str, data_dir: Path) -> Settings:
    """The app's settings over the bench's servers (bench/instructions.py uses them too)."""
    return Settings(
        environment="test",
        database_url=database_url,
        redis_url=redis_url,
        data_dir=data_dir,
        auth={"secret_key": SECRET},
        log={"level": "WARNING"},
        embedding={"provider": "static"},
    )


async def _old_path(resources: Resources, settings: Settings) -> None:
    """What every request did before: pre-ping on checkout, and a transaction even for a GET."""
    await resources.engine.dispose()  # replaced below; it has not connected yet
    engine = create_engine(settings, pool_pre_ping=True)
    resources.engine = engine
    resources.sessionmaker = create_sessionmaker(engine)
    resources.read_sessionmaker = resources.sessionmaker


def _prefetch(enabled: bool) -> None:
    """Before, current_user read the caller alone and require_project asked for the access separately:
    switched per block (the request path reads this module attribute on every request)."""
    deps._path_project_id = PREFETCH if enabled else (lambda request: None)


PREFETCH = deps._path_project_id


def _backends_cpu(database_url: str) -> float:
    total = 0.0
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "postgres" in (proc.info["name"] or "") and "v1tr0_bench_crud" in cmdline:
            times = proc.cpu_times()
            total += times.user + times.system
    return total


async def _block(http: httpx.AsyncClient, paths: list[str], headers: dict[str, str]) -> None:
    for path in paths:
        r = await http.get(path, headers=headers)
        if r.status_code != 200:
            raise RuntimeError(f"{path}: {r.status_code} {r.text[:200]}")


async def measure(args: argparse.Namespace, database_url: str, redis_url: str, workdir: Path) -> None:
    data = seed(database_url)
    settings = app_settings(database_url, redis_url, workdir / "app")
    token = create_access_token(user_id=data.user_id, secret=SECRET, ttl_seconds=3600)
    headers = {"Authorization": f"Bearer {token}"}
    paths = [f"/api/v1/projects/{data.user_project_ids[i % 200]}" for i in range(args.requests)]
    apps: dict[str, tuple[httpx.AsyncClient, Resources]] = {}
    for name in ("old", "new"):
        resources = Resources.open(settings)
        if name == "old":
            await _old_path(resources, settings)
        app = create_app(settings, resources=resources)
        app.state.resources = resources
        transport = httpx.ASGITransport(app=app)
        apps[name] = (httpx.AsyncClient(transport=transport, base_url="http://bench"), resources)
    results: dict[str, dict[str, list[float]]] = {n: {"app": [], "pg": []} for n in apps}
    for name, (http, _) in apps.items():
        _prefetch(name == "new")
        await _block(http, paths[:200], headers)  # warm both: compiled SQL, prepared statements, pool
    for round_no in range(args.rounds):
        for name in ("old", "new") if round_no % 2 == 0 else ("new", "old"):
            http, _ = apps[name]
            _prefetch(name == "new")
            await asyncio.sleep(1.2)
            pg0, cpu0 = _backends_cpu(database_url), time.process_time()
            await _block(http, paths, headers)
            cpu1, pg1 = time.process_time(), _backends_cpu(database_url)
            n = len(paths)
            results[name]["app"].append((cpu1 - cpu0) * 1e6 / n)
            results[name]["pg"].append((pg1 - pg0) * 1e6 / n)
            print(
                f"round {round_no + 1} {name}: {results[name]['app'][-1]:,.0f} µs app CPU, "
                f"{results[name]['pg'][-1]:,.0f} µs PostgreSQL CPU per request",
                flush=True,
            )
    for http, resources in apps.values():
        await http.aclose()
        await resources.close()

    def med(name: str, key: str) -> float:
        return statistics.median(results[name][key])

    print()
    print(f"GET /api/v1/projects/{{id}}, {args.requests:,} requests x {args.rounds} rounds each (medians)")
    print(f"{'':<34}{'old':>10}{'new':>10}{'new/old':>10}")
    for key, label in (("app", "app CPU µs / request"), ("pg", "PostgreSQL CPU µs / request")):
        old, new = med("old", key), med("new", key)
        print(f"{label:<34}{old:>10,.0f}{new:>10,.0f}{new / old:>10.2f}")
    print(
        "(old: pre-ping + BEGIN + user + access + COMMIT = 5 round trips; "
        "new: the user with their access to the project = 1 round trip, autocommitted)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    with embedded_services("read-path") as (services, workdir):
        database_url = create_database(services.database_url, "v1tr0_bench_crud")
        asyncio.run(measure(args, database_url, services.redis_url, workdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
