"""How the "everything I may see" feed should read: one stream per visible project (XREAD over all of
them, woken only by their events) or the stream of all projects (one key, woken by every project's event,
filtered). Both read what core/feed.py writes.

A writer publishes N events to the k projects a reader sees; the reader follows in lockstep, blocked in
XREAD as a live SSE client is. Three phases run in the same process, interleaved and repeated (the least
disturbed run of each counts): writes alone (the baseline), writes + a reader of the k project streams,
writes + a reader of the stream of all projects. A reader's cost is its phase's CPU minus the baseline's:
this process's (redis-py, parsing: the API's side) plus the Redis server's (INFO used_cpu_*), per event.

Per delivered event the per-project reader costs A(k). The all-stream reader costs b per event it wakes
for, and it wakes for every project's event: with P projects publishing alike, b·P/k per event it
delivers. The per-project streams are cheaper while A(k) < b·P/k, i.e. while the system has more than
P* = k·A(k)/b projects; the printed P* is that break-even.

    .venv/bin/python bench/feed.py [--events 2000] [--seen 1,10,50,100,250,500] [--repeat 3]
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

    @property
    def total(self) -> float:
        return self.client + self.server


async def phase(redis: Redis, projects: list[str], events: int, streams: list[str] | None) -> Cost:
    """Publish `events` round-robin over `projects`; with `streams`, a reader follows them in lockstep."""
    cursor = await feed.current_cursor(redis)
    delivered = asyncio.Event()

    async def reader() -> None:
        nonlocal cursor
        assert streams is not None
        while True:
            entries = await feed.read(redis, streams, cursor, count=100, block_ms=5000)
            if entries:
                cursor = entries[-1].id
                delivered.set()

    task = asyncio.create_task(reader()) if streams else None
    await asyncio.sleep(0.2)  # the reader is blocked in XREAD
    cpu, server = time.process_time(), await server_cpu(redis)
    for n in range(events):
        delivered.clear()
        await feed.append(redis, projects[n % len(projects)], feed.FeedEvent.INDEX_INDEXED, n=n)
        if task is not None:
            await asyncio.wait_for(delivered.wait(), 10)
    cost = Cost(time.process_time() - cpu, await server_cpu(redis) - server)
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return cost


async def run(args: argparse.Namespace, redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    every = [str(uuid.uuid4()) for _ in range(max(args.seen))]
    await phase(redis, every, args.events, None)  # warm-up: the streams exist, caches are hot
    print(f"{args.events} events per phase, best of {args.repeat}; µs per event (client + Redis server)")
    print(f"{'k':>5} {'writer':>8} {'A(k) per-project':>17} {'b all-stream':>13} {'P* = k·A(k)/b':>14}")
    for k in args.seen:
        seen = every[:k]
        readers = {
            "writes": None,
            "per-project": [keys.project_feed(project) for project in seen],
            "all": [keys.FEED_ALL],
        }
        best: dict[str, Cost] = {}
        for _ in range(args.repeat):
            for name, streams in readers.items():
                cost = await phase(redis, seen, args.events, streams)
                if name not in best or cost.total < best[name].total:
                    best[name] = cost
        writes = best["writes"].total / args.events * 1e6
        per_project = (best["per-project"].total - best["writes"].total) / args.events * 1e6
        all_stream = (best["all"].total - best["writes"].total) / args.events * 1e6
        break_even = k * per_project / all_stream
        print(f"{k:>5} {writes:>8.0f} {per_project:>17.0f} {all_stream:>13.0f} {break_even:>14.0f}")
    await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--seen", type=lambda v: [int(x) for x in v.split(",")], default=[1, 10, 50, 100, 250, 500]
    )
    args = parser.parse_args()
    with embedded_services("feed-bench") as (services, _workdir):
        asyncio.run(run(args, services.redis_url))


if __name__ == "__main__":
    main()
