"""Chat overhead: time to first `delta` of POST /api/v1/ai/chat minus the mock provider's first-token delay.

Self-contained: embedded PostgreSQL + Redis under a temp dir, one project holding the XQuAD-es paragraphs
(one chunk each, real embeddings, cached), and the real app served by one uvicorn worker whose chat model
is a mock that streams N tokens with a fixed first-token delay and a fixed rate (the factory below swaps
it into Resources before create_app). Every turn is a new conversation with a new question (so the query
embedding is computed, not cached); the overhead is everything the product adds before the provider's
first token reaches the client: auth, access and rate-limit checks, storing the turn, starting it, query
embedding, retrieval, prompt building, the Redis buffer and the SSE relay.

    python bench/chat.py [--turns 60] [--first-token-ms 200] [--token-ms 20] [--tokens 20]
        [--model e5|static] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import (
    MODELS,
    ROOT,
    LookupEmbedder,
    cached_embeddings,
    create_database,
    embedded_services,
    index_documents,
    load_beir,
    median,
    percentile,
    serve,
    write_json,
)

from core.providers.llm import Generation, Usage
from core.settings import Settings

DATA = ROOT.parent / "shared" / "data"
SECRET = "bench-secret-key-that-is-long-enough-for-hs256-0123456789"  # noqa: S105 - throwaway
TARGET_P50_MS = 100.0
ENV_FIRST, ENV_RATE, ENV_TOKENS = "BENCH_CHAT_FIRST_TOKEN_MS", "BENCH_CHAT_TOKEN_MS", "BENCH_CHAT_TOKENS"


# --------------------------------------------------------------------------------------------- the app


class MockChatModel:
    """A ChatModel that streams `tokens` words: the first after `first_token_ms`, then one per `token_ms`.
    The answer cites source [1], so the turn ends with a citation like a real grounded answer."""

    provider = "mock"
    model = "mock-stream"

    def __init__(self, *, first_token_ms: float, token_ms: float, tokens: int) -> None:
        self.first_token = first_token_ms / 1000
        self.per_token = token_ms / 1000
        self.tokens = max(tokens, 2)

    async def stream(self, request: Generation, usage: Usage) -> AsyncIterator[str]:
        usage.prompt_tokens = sum(len(m["content"].split()) for m in request.messages)
        words = ["Según", "la", "fuente", "[1],"] + [f"palabra{n}" for n in range(self.tokens)]
        await asyncio.sleep(self.first_token)
        for n, word in enumerate(words[: self.tokens]):
            if n:
                await asyncio.sleep(self.per_token)
            usage.completion_tokens += 1
            yield word + ("." if n == self.tokens - 1 else " ")


def create_bench_app() -> Any:
    """uvicorn factory: the real app, whose Resources carry the mock chat model (configured by env)."""
    from api.app import create_app
    from api.resources import Resources
    from core.settings import load_settings

    settings = load_settings()
    resources = Resources.open(settings).with_chat_model(
        MockChatModel(
            first_token_ms=float(os.environ[ENV_FIRST]),
            token_ms=float(os.environ[ENV_RATE]),
            tokens=int(os.environ[ENV_TOKENS]),
        )
    )
    app = create_app(settings, resources=resources)
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[None]:
        async with inner(application):
            try:
                yield
            finally:
                await resources.close()  # create_app closes only resources it opened itself

    app.router.lifespan_context = lifespan
    return app


# --------------------------------------------------------------------------------------------- seeding


async def seed(settings: Settings, model: str) -> tuple[uuid.UUID, uuid.UUID, list[str]]:
    """A user who owns one project holding the XQuAD-es paragraphs; returns (user, project, questions)."""
    from api.resources import Resources
    from core.models import MemberRole, Project, ProjectMember, User
    from core.vectors import register_model
    from retrieval.search import clean_query

    data = load_beir(DATA / "xquad_es")
    # In a thread: on a cold cache it runs its own event loop to embed.
    vectors = await asyncio.to_thread(
        cached_embeddings, model, [d.content for d in data.docs], label="xquad_es"
    )
    assert vectors is not None
    lookup = {d.content: v.tolist() for d, v in zip(data.docs, vectors, strict=True)}
    embedder = LookupEmbedder(MODELS[model], int(vectors.shape[1]), lookup)
    resources = Resources.open(settings)
    try:
        async with resources.sessionmaker() as session, session.begin():
            user = User(email="bench@example.com", full_name="Bench User")
            project = Project(title="Wikipedia (XQuAD-es)")
            session.add_all([user, project])
            await session.flush()
            session.add(ProjectMember(project_id=project.id, user_id=user.id, role=MemberRole.OWNER))
            project.owner_id = user.id
            await register_model(session, name=embedder.name, dimensions=embedder.dimensions)
            user_id, project_id = user.id, project.id
        await index_documents(resources, project_id, data.docs, embedder)
    finally:
        await resources.close()
    questions = list(dict.fromkeys(clean_query(q) for q in data.queries.values()))
    return user_id, project_id, questions


# --------------------------------------------------------------------------------------------- measuring


@dataclass
class Turn:
    ttfd_ms: float  # request sent -> first delta event received
    overhead_ms: float  # ttfd - the provider's first-token delay
    total_ms: float
    retrieval_ms: float
    first_token_ms: float  # server: turn start -> first delta written (includes the provider's delay)
    before_turn_ms: float  # ttfd - first_token_ms: request handling, turn start-up and the SSE relay
    sources: int
    deltas: int


@dataclass
class Report:
    model: str
    first_token_ms: float
    token_ms: float
    tokens: int
    turns: list[Turn] = field(default_factory=list)
    skipped_no_sources: int = 0
    errors: list[str] = field(default_factory=list)
    summary: dict[str, dict[str, float]] = field(default_factory=dict)
    targets: list[dict[str, Any]] = field(default_factory=list)


async def one_turn(
    client: Any, url: str, headers: dict[str, str], message: str, first_token_ms: float
) -> Turn | str:
    started = time.perf_counter()
    ttfd = None
    sources, deltas, done = 0, 0, None
    event = ""
    async with client.stream("POST", url, json={"message": message}, headers=headers) as response:
        if response.status_code != 200:
            return f"HTTP {response.status_code}: {(await response.aread())[:200]!r}"
        async for line in response.aiter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data = json.loads(line[5:].strip() or "{}")
                if event == "delta":
                    deltas += 1
                    if ttfd is None:
                        ttfd = (time.perf_counter() - started) * 1000
                elif event == "start":
                    sources = len(data.get("sources") or [])
                elif event == "error":
                    return f"error event: {data}"
                elif event == "done":
                    done = data
    total = (time.perf_counter() - started) * 1000
    if ttfd is None or done is None:
        return "stream ended without a delta or a done event"
    timings = done.get("timings") or {}
    first_token = float(timings.get("first_token_ms", float("nan")))
    return Turn(
        ttfd_ms=ttfd,
        overhead_ms=ttfd - first_token_ms,
        total_ms=total,
        retrieval_ms=float(timings.get("retrieval_ms", float("nan"))),
        first_token_ms=first_token,
        before_turn_ms=ttfd - first_token,
        sources=sources,
        deltas=deltas,
    )


async def measure(args: argparse.Namespace, base_url: str, token: str, project_id: uuid.UUID,
                  questions: list[str], report: Report) -> None:  # fmt: skip
    import httpx

    url = f"/api/v1/ai/chat/{project_id}"
    headers = {"Authorization": f"Bearer {token}"}
    async with httpx.AsyncClient(base_url=base_url, timeout=60.0) as client:
        warm = 0
        for question in questions:
            if len(report.turns) >= args.turns:
                break
            result = await one_turn(client, url, headers, question, args.first_token_ms)
            if isinstance(result, str):
                report.errors.append(result)
                if len(report.errors) > 5:
                    raise RuntimeError("too many failed turns: " + "; ".join(report.errors))
                continue
            if result.sources == 0:  # nothing relevant: the product answers "I don't know" without the model
                report.skipped_no_sources += 1
                continue
            if warm < args.warmup:
                warm += 1
                continue
            report.turns.append(result)
            if len(report.turns) % 10 == 0:
                print(f"  {len(report.turns)}/{args.turns} turns", flush=True)
    if len(report.turns) < args.turns:
        print(f"warning: only {len(report.turns)} of {args.turns} turns had sources")


def summarise(report: Report) -> None:
    columns = ("ttfd_ms", "overhead_ms", "retrieval_ms", "first_token_ms", "before_turn_ms", "total_ms")
    for name in columns:
        values = [getattr(t, name) for t in report.turns]
        report.summary[name] = {"p50": median(values), "p95": percentile(values, 95), "max": max(values)}
    p50 = report.summary["overhead_ms"]["p50"]
    report.targets = [
        {
            "target": f"overhead p50 < {TARGET_P50_MS:g} ms",
            "measured": f"{p50:.1f} ms",
            "pass": p50 < TARGET_P50_MS,
        }
    ]


def print_report(report: Report) -> None:
    provider_total = report.first_token_ms + (report.tokens - 1) * report.token_ms
    print()
    print(
        f"mock provider: first token after {report.first_token_ms:g} ms, then {report.token_ms:g} ms/token, "
        f"{report.tokens} tokens (the provider alone: {provider_total:g} ms per answer)"
    )
    print(f"query embedding model: {report.model}")
    print(
        f"{len(report.turns)} turns measured (each a new conversation and a new question); "
        f"{report.skipped_no_sources} skipped for having no relevant source; {len(report.errors)} failed"
    )
    print()
    labels = {
        "ttfd_ms": "time to first delta (client)",
        "overhead_ms": "  minus provider first-token delay",
        "retrieval_ms": "retrieval (done.timings)",
        "first_token_ms": "first token (done.timings)",
        "before_turn_ms": "request + start-up + relay",
        "total_ms": "whole answer (client)",
    }
    header = f"{'':<36} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}"
    print(header)
    print("-" * len(header))
    for name, label in labels.items():
        s = report.summary[name]
        print(f"{label:<36} {s['p50']:>8.1f} {s['p95']:>8.1f} {s['max']:>8.1f}")
    print()
    print("first_token_ms counts from the turn's start on the server and includes the provider's delay;")
    print("first_token_ms - retrieval_ms - provider delay = prompt building + the first Redis write:")
    extra = [t.first_token_ms - t.retrieval_ms - report.first_token_ms for t in report.turns]
    print(f"  p50 {median(extra):.1f} ms, p95 {percentile(extra, 95):.1f} ms")
    print()
    for target in report.targets:
        print(f"  {'PASS' if target['pass'] else 'MISS'}  {target['target']:<32} {target['measured']}")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=60, help="measured turns (>= 50)")
    parser.add_argument("--warmup", type=int, default=5, help="unmeasured turns first")
    parser.add_argument(
        "--first-token-ms", type=float, default=200.0, help="the provider's first-token delay"
    )
    parser.add_argument("--token-ms", type=float, default=20.0, help="then one token every this many ms")
    parser.add_argument("--tokens", type=int, default=20, help="tokens per answer")
    parser.add_argument("--model", choices=sorted(MODELS), default="e5", help="the serving embedding model")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the numbers here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    report = Report(MODELS[args.model], args.first_token_ms, args.token_ms, args.tokens)
    with embedded_services("bench-chat") as (services, workdir):
        database_url = create_database(services.database_url, "v1tr0_bench_chat")
        settings = Settings(
            environment="test", database_url=database_url, redis_url=services.redis_url,
            data_dir=workdir / "app", log={"level": "WARNING"}, embedding={"provider": args.model},
        )  # fmt: skip
        user_id, project_id, questions = asyncio.run(seed(settings, args.model))
        from core.security import create_access_token

        token = create_access_token(user_id=user_id, secret=SECRET, ttl_seconds=24 * 3600)
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "DATABASE_URL": database_url,
            "REDIS_URL": services.redis_url,
            "V1TR0_AUTH__SECRET_KEY": SECRET,
            "V1TR0_LOG__LEVEL": "WARNING",
            "V1TR0_DATA_DIR": str(workdir / "app"),
            "V1TR0_EMBEDDING__PROVIDER": args.model,
            "V1TR0_RETRIEVAL__AI_RATE_LIMIT": "100000",
            "V1TR0_RETRIEVAL__AI_PROJECT_RATE_LIMIT": "100000",
            ENV_FIRST: str(args.first_token_ms),
            ENV_RATE: str(args.token_ms),
            ENV_TOKENS: str(args.tokens),
        }
        target = ["bench.chat:create_bench_app", "--factory"]
        try:
            with serve("app", target, env=env, logs=workdir, probe="/health/live") as app:
                asyncio.run(measure(args, app.base_url, token, project_id, questions, report))
        except KeyboardInterrupt:
            print("\ninterrupted: stopping everything the bench started", file=sys.stderr)
            return 130
    if not report.turns:
        print("no turn measured: " + "; ".join(report.errors), file=sys.stderr)
        return 1
    summarise(report)
    print_report(report)
    write_json(args.json, asdict(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
