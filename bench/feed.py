"""How the "everything I may see" feed should read: one stream per visible project (XREAD on all of them,
woken only by their events) or the stream of all projects (one key, woken by every project's event and
filtered). Both read the same events written by core/feed.py.

A writer publishes events spread evenly over P projects; a reader that sees k of them follows the feed in
lockstep, blocked in XREAD as a live SSE client is, in each of three phases run in the same process:
writes alone (the baseline), writes + a reader of the k project streams, writes + a reader of the stream
of all projects. The reader's cost is the phase's CPU minus the baseline's: this process's CPU (the
client side: redis-py and parsing) and the Redis server's (INFO used_cpu_*), per event the reader
delivers.

    .venv/bin/python bench/feed.py [--projects 500] [--events 3000] [--seen 1,10,50,100,250,500]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import embedded_services
from redis.asyncio import Redis

from core import feed, keys


async def server_cpu(redis: Redis) -> float:
    info = await redis.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


@dataclass
class Cost:
    client: float  # seconds of this process's CPU
    server: float  # seconds of the Redis server's CPU
    delivered: int


async def phase(
    redis: Redis, projects: list[str], seen: set[str], events: int, reader_streams: list[str] | None
) -> Cost:
    """Publish `events` round-robin over `projects`; with `reader_streams`, a reader follows them in
    lockstep (the writer waits for it after each event it must wake for)."""
    cursor = await feed.current_cursor(redis)
    woken = asyncio.Event()
    delivered = 0
    wakes_on_every_event = reader_streams == [keys.FEED_ALL]

    async def reader() -> None:
        nonlocal cursor, delivered
        assert reader_streams is not None
        while True:
            entries = await feed.read(redis, reader_streams, cursor, count=100, block_ms=5000)
            if entries:
                cursor = entries[-1].id
                delivered += sum(1 for entry in entries if entry.project_id in seen)
                woken.set()

    task = asyncio.create_task(reader()) if reader_streams else None
    await asyncio.sleep(0.2)  # the reader is blocked in XREAD
    cpu, server = time.process_time(), await server_cpu(redis)
    for n in range(events):
        project = projects[n % len(projects)]
        woken.clear()
        await feed.append(redis, project, feed.FeedEvent.INDEX_INDEXED, n=n)
        if task is not None and (wakes_on_every_event or project in seen):
            await asyncio.wait_for(woken.wait(), 10)
    cost = Cost(time.process_time() - cpu, await server_cpu(redis) - server, delivered)
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return cost


async def run(args: argparse.Namespace, redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    projects = [str(uuid.uuid4()) for _ in range(args.projects)]
    await phase(redis, projects, set(), args.events, None)  # warm-up: streams exist, caches are hot
    print(
        f"{args.projects} projects, {args.events} events per phase; reader cost per delivered event "
        "(phase CPU minus the writes-only baseline), µs"
    )
    print(
        f"{'seen':>5} {'per-project client':>19} {'server':>7} {'all-stream client':>18} {'server':>7}"
        f" {'client ratio':>13} {'server ratio':>13}"
    )
    for k in args.seen:
        seen = set(projects[:k])
        expected = sum(1 for n in range(args.events) if projects[n % len(projects)] in seen)
        readers = {
            "baseline": None,
            "per-project": [keys.project_feed(p) for p in projects[:k]],
            "all": [keys.FEED_ALL],
        }
        best: dict[str, Cost] = {}
        for _ in range(args.repeat):  # interleaved; the least CPU of each is the least disturbed run
            for name, streams in readers.items():
                cost = await phase(redis, projects, seen, args.events, streams)
                assert streams is None or cost.delivered == expected, (name, cost, expected)
                if name not in best or cost.client + cost.server < best[name].client + best[name].server:
                    best[name] = cost
        base = best["baseline"]
        (pc, ps), (ac, as_) = (
            (
                (best[name].client - base.client) / expected * 1e6,
                (best[name].server - base.server) / expected * 1e6,
            )
            for name in ("per-project", "all")
        )
        print(f"{k:>5} {pc:>19.0f} {ps:>7.0f} {ac:>18.0f} {as_:>7.0f} {pc / ac:>13.2f} {ps / as_:>13.2f}")
    await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--projects", type=int, default=500)
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--seen", type=lambda v: [int(x) for x in v.split(",")], default=[1, 10, 50, 100, 250, 500]
    )
    args = parser.parse_args()
    with embedded_services("feed-bench") as (services, _workdir):
        asyncio.run(run(args, services.redis_url))


if __name__ == "__main__":
    main()
