"""Instructions per request of the hot reads (callgrind), the app against the bare baseline.

A count of instructions does not move with the machine's load, where rates and CPU times do (docs/
performance.md): on a shared machine this is the number to compare between commits. Each request is a
raw ASGI call into the app in this process (no HTTP client, no uvicorn: what both servers add is left
out), over bench/crud.py's seeded database; only the Python process is counted (PostgreSQL runs apart).

    python bench/instructions.py [--requests 100] [--only single,page,mlist,mget] [--baseline]

It runs itself under `valgrind --tool=callgrind` (Debian's valgrind; scripts/system-deps.sh does not
install it) with instrumentation off, switches it on around each route's requests after a warm-up, and
prints the instructions per request of each route.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, create_database, embedded_services
from crud import SECRET, seed

ROUTES = ("single", "page", "mlist", "mget")


class Driver:
    """GET requests as raw ASGI calls with a bearer token."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.auth = f"Bearer {token}".encode()

    async def get(self, path: str) -> int:
        raw, _, query = path.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": raw,
            "raw_path": raw.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"127.0.0.1:8000"), (b"authorization", self.auth), (b"accept", b"*/*")],
            "client": ("127.0.0.1", 50000),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        status = 0

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]

        await self.app(scope, receive, send)
        return status


def _callgrind(*args: str) -> None:
    subprocess.run(["callgrind_control", *args, str(os.getpid())], check=True, capture_output=True)


async def measure(args: argparse.Namespace, database_url: str, redis_url: str, workdir: Path) -> None:
    import psycopg

    from api.app import create_app
    from api.resources import Resources
    from core.db import libpq_url
    from core.security import create_access_token

    data = seed(database_url)
    with psycopg.connect(libpq_url(database_url)) as conn:
        meetings = []
        for project_id in data.user_project_ids[:20]:
            meeting_id = uuid.uuid4()
            conn.execute(
                "INSERT INTO meetings (id, title, description, room_id, project_id, start_time) "
                "VALUES (%s, 'Weekly', %s, %s, %s, now())",
                (meeting_id, "desc " * 20, f"room-{meeting_id}", project_id),
            )
            meetings.append(meeting_id)
    async with contextlib.AsyncExitStack() as stack:
        if args.baseline:
            import baseline_app

            os.environ["DATABASE_URL"] = libpq_url(database_url)
            os.environ["BENCH_USER_ID"] = str(data.user_id)
            app: Any = baseline_app.create_app()
            await stack.enter_async_context(app.router.lifespan_context(app))
            prefix = ""
        else:
            from read_path import app_settings

            settings = app_settings(database_url, redis_url, workdir)
            resources = Resources.open(settings)
            stack.push_async_callback(resources.close)
            app = create_app(settings, resources=resources)
            prefix = "/api/v1"
        token = create_access_token(user_id=data.user_id, secret=SECRET, ttl_seconds=3600)
        driver = Driver(app, token)
        ids = [str(i) for i in data.user_project_ids]
        routes = {
            "single": [f"{prefix}/projects/{i}" for i in ids],
            "page": [f"{prefix}/projects?limit=20"],
            "mlist": [f"/api/v1/meetings?project_id={i}&limit=20" for i in ids[:20]],
            "mget": [f"/api/v1/meetings/{m}" for m in meetings],
        }
        for name in args.only:
            paths = routes[name]
            for i in range(30):  # warm: prepared statements, caches
                status = await driver.get(paths[i % len(paths)])
                if status != 200:
                    raise SystemExit(f"{name}: {paths[0]} answered {status}")
            _callgrind("-z")
            _callgrind("-i", "on")
            for i in range(args.requests):
                await driver.get(paths[i % len(paths)])
            _callgrind("-i", "off")
            _callgrind("-d", name)


def report(outdir: Path, requests: int) -> None:
    for dump in sorted(outdir.glob("callgrind.out.*.*")):
        text = dump.read_text(errors="replace")
        trigger = re.search(r"^desc: Trigger: dump (\S+)", text, re.MULTILINE)
        annotated = subprocess.run(["callgrind_annotate", str(dump)], capture_output=True, text=True).stdout
        total = re.search(r"^([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS", annotated, re.MULTILINE) or re.search(
            r"^([\d,]+)\s+PROGRAM TOTALS", annotated, re.MULTILINE
        )
        if trigger and total:
            count = int(total[1].replace(",", ""))
            print(f"{trigger[1]:<8} {count / requests / 1e6:7.3f} M instructions per request")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100)
    parser.add_argument("--only", default=",".join(ROUTES), help="comma-separated: " + ", ".join(ROUTES))
    parser.add_argument("--baseline", action="store_true", help="the bare Starlette app (single, page)")
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.only = [name for name in args.only.split(",") if name]
    if args.baseline and set(args.only) - {"single", "page"}:
        parser.error("the baseline serves single and page only")
    if args.inside:
        import uvloop

        with embedded_services("instructions") as (embedded, workdir):
            url = create_database(embedded.database_url, "v1tr0_instructions")
            uvloop.run(measure(args, url, embedded.redis_url, workdir))
        return 0
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    with tempfile.TemporaryDirectory(prefix="v1tr0-callgrind-") as tmp:
        out = Path(tmp)
        command = [
            "valgrind", "--tool=callgrind", "--instr-atstart=no",
            f"--callgrind-out-file={out}/callgrind.out.%p",
            sys.executable, __file__, "--inside",
            "--requests", str(args.requests), "--only", ",".join(args.only),
            *(["--baseline"] if args.baseline else []),
        ]  # fmt: skip
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            print(done.stderr[-3000:], file=sys.stderr)
            return done.returncode
        print(f"{'app' if not args.baseline else 'baseline'}: {args.requests} requests per route")
        report(out, args.requests)
    return 0


if __name__ == "__main__":
    sys.exit(main())
