"""CPU per request of the dashboard's routes (reads, list pages, search, answers), this checkout against an
earlier revision, in one run.

bench/load.py's dashboard (40 projects of SciFact abstracts, meetings, 20 users) is seeded once on
`v1tr0 run` (embedded servers, its worker indexes everything). Then, for each code version, a child process
imports the app from that version (`--rev`: a git worktree of it), sends the same requests to it through
httpx's ASGI transport (no sockets, one at a time) and reports per request the CPU of its own process (the
app, plus the in-process client: the same for both versions, shown by GET /health/live) and of
PostgreSQL's processes (found by the stack's data dir). Both versions run against the same database, so
the revision must have the same migrations as this checkout.

    python bench/route_cpu.py [--rev 487978f] [--requests 300] [--data ../shared/data/scifact]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ROUTES = {
    "GET /health/live": "/health/live",
    "GET /projects/{id}": "/api/v1/projects/{project}",
    "GET /projects": "/api/v1/projects?limit=20",
    "GET /meetings?project_id": "/api/v1/meetings?project_id={project}&limit=20",
    "GET /ai/search/{project_id}": "/api/v1/ai/search/{project}",
    "GET /search": "/api/v1/search",
    "GET /ai/ask/{project_id}": "/api/v1/ai/ask/{project}",
}


def postgres_cpu(data_dir: str) -> float:
    import psutil

    total = 0.0
    for proc in psutil.process_iter(["name", "cmdline"]):
        try:
            if "postgres" not in (proc.info["name"] or ""):
                continue
            line = " ".join(proc.info["cmdline"] or [])
            parent = proc.parent()
            if data_dir in line or (parent is not None and data_dir in " ".join(parent.cmdline())):
                times = proc.cpu_times()
                total += times.user + times.system
        except psutil.Error:
            continue
    return total


async def drive(spec: dict[str, Any], requests: int) -> dict[str, dict[str, float]]:
    """The child: every route `requests` times after a warm-up, through the app of the version on sys.path."""
    import httpx

    from api.app import create_app

    app = create_app()
    seed, tokens = spec["seed"], spec["tokens"]
    users = [user for user, projects in seed["users"].items() if projects]
    results: dict[str, dict[str, float]] = {}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench") as client,
    ):
        for label, template in ROUTES.items():
            rng = random.Random(7)  # the same requests for every version

            async def one(rng: random.Random = rng, template: str = template) -> None:
                user = rng.choice(users)
                url = template.format(project=rng.choice(seed["users"][user]))
                params = {"q": rng.choice(seed["questions"])} if "/search" in url or "/ask/" in url else {}
                headers = {"Authorization": f"Bearer {tokens[user]}"}
                response = await client.get(url, params=params, headers=headers)
                if response.status_code != 200:
                    raise RuntimeError(f"{url}: {response.status_code} {response.text[:200]}")

            for _ in range(30):
                await one()
            cpu, pg = time.process_time(), postgres_cpu(spec["data_dir"])
            for _ in range(requests):
                await one()
            results[label] = {
                "app_us": (time.process_time() - cpu) * 1e6 / requests,
                "postgres_us": (postgres_cpu(spec["data_dir"]) - pg) * 1e6 / requests,
            }
    return results


def child(spec_path: Path, requests: int) -> int:
    spec = json.loads(spec_path.read_text())
    print(json.dumps(asyncio.run(drive(spec, requests))))
    return 0


def run_version(
    root: Path, spec_path: Path, env: dict[str, str], requests: int
) -> dict[str, dict[str, float]]:
    code = (
        f"import sys; sys.path.insert(0, {str(root)!r}); sys.path.insert(1, {str(ROOT / 'bench')!r}); "
        f"import route_cpu; raise SystemExit(route_cpu.child(route_cpu.Path({str(spec_path)!r}), {requests}))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"{root}: {done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rev", help="an earlier revision to compare with (a git worktree of it)")
    parser.add_argument("--requests", type=int, default=300, help="measured requests per route")
    parser.add_argument("--data", type=Path, help="the SciFact BEIR folder")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT / "bench"))
    import load

    workdir = Path(tempfile.mkdtemp(prefix="v1tr0-bench-route-cpu-"))
    versions = {"this checkout": ROOT}
    if args.rev:
        tree = workdir / "rev"
        subprocess.run(
            ["git", "worktree", "add", "--detach", "-f", str(tree), args.rev], cwd=ROOT, check=True
        )
        versions = {args.rev: tree, **versions}
    try:
        with load.stack(workdir, model="static", workers=1) as running:
            print("seeding bench/load.py's dashboard ...", flush=True)
            seed = load.seed(
                running.base_url, data=args.data or load.DATA, projects=40, docs_per_project=20, users=20,
                rng=random.Random(7),
            )  # fmt: skip
            services = json.loads((running.data_dir / "services.json").read_text())
            spec = {
                "seed": {"users": seed.users, "questions": seed.questions},
                "tokens": {user: load._token(user) for user in seed.users},
                "data_dir": str(running.data_dir),
            }
            spec_path = workdir / "spec.json"
            spec_path.write_text(json.dumps(spec))
            env = {
                **{k: v for k, v in os.environ.items() if not k.startswith("V1TR0_")},
                "DATABASE_URL": services["database_url"],
                "REDIS_URL": services["redis_url"],
                "V1TR0_DATA_DIR": str(running.data_dir),
                "V1TR0_AUTH__SECRET_KEY": load.SECRET,
                "V1TR0_EMBEDDING__PROVIDER": "static",
                "V1TR0_LOG__LEVEL": "WARNING",
                "V1TR0_RETRIEVAL__AI_RATE_LIMIT": "100000000",
                "V1TR0_RETRIEVAL__AI_PROJECT_RATE_LIMIT": "100000000",
                **load.UNLIMITED,
            }
            found = {}
            for name, root in versions.items():
                print(f"{name}: {args.requests} requests per route ...", flush=True)
                found[name] = run_version(root, spec_path, env, args.requests)
    finally:
        if args.rev:
            subprocess.run(
                ["git", "worktree", "remove", "--force", str(workdir / "rev")], cwd=ROOT, check=False
            )
        shutil.rmtree(workdir, ignore_errors=True)
    names = list(found)
    print(
        f"\nCPU per request, in-process app + client and PostgreSQL, µs ({args.requests} requests per route)"
    )
    header = "".join(f"{name[:14]:>16}{'':>10}" for name in names)
    print(f"{'route':<30}{header}" + ("   ratio (this / rev): app, PostgreSQL" if len(names) == 2 else ""))
    for label in ROUTES:
        cells = "".join(
            f"{found[n][label]['app_us']:>16,.0f}{found[n][label]['postgres_us']:>10,.0f}" for n in names
        )
        ratio = ""
        if len(names) == 2:
            old, new = found[names[0]][label], found[names[1]][label]
            app, postgres = new["app_us"] / old["app_us"], new["postgres_us"] / max(old["postgres_us"], 1)
            ratio = f"   {app:.2f}, {postgres:.2f}"
        print(f"{label:<30}{cells}{ratio}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
