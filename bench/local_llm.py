"""The local chat model's speed: llama.cpp's OpenAI-compatible server (llama-cpp-python) with each packaged
model, timed through the app's own client (the `openai` SDK, streaming).

For each model and thread count, one server; for each context size, `--repeats` cold questions (a nonce
at the start of the system prompt defeats the server's prefix reuse) and, after each, a follow-up with the
same system prompt and context but another question (the server reuses the common prefix). The context is
XQuAD-es paragraphs as numbered passages, budgeted with tiktoken like the app's answer context
(`V1TR0_RETRIEVAL__CONTEXT_TOKENS`), inside the app's answer prompt (prompts/templates/answer.toml).

Printed per configuration (medians): time to first token (client side), prompt and generation tokens/s
(from the server's own timings), the server's resident memory; and ratios against the baselines measured
in the same run: 2 threads vs 1, a follow-up vs a cold question, and the per-request cost of the server
(HTTP + SSE + SDK) against the same model in-process (llama_cpp.Llama) on a short prompt.

    python bench/local_llm.py [--models qwen2.5-coder-1.5b,qwen2.5-coder-0.5b] [--threads 1,2]
        [--contexts 3000,1000] [--repeats 3] [--max-tokens 48] [--dataset ../shared/data/xquad_es]
        [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import ROOT, load_beir

from core.embedded import free_port
from core.providers.local_llm import CATALOG, install, server_command, wait_ready
from core.providers.openai_client import make_client
from core.settings import Settings
from core.tokens import count_tokens
from prompts.loader import default_library

PERF = re.compile(r"(prompt eval|\beval) time =\s*([\d.]+) ms /\s*(\d+) (?:tokens|runs)")


@dataclass
class Turn:
    ttft: float
    prompt_tokens: int
    prompt_ms: float
    generated: int
    generation_ms: float

    @property
    def prompt_rate(self) -> float:
        return self.prompt_tokens / (self.prompt_ms / 1000) if self.prompt_ms else 0.0

    @property
    def generation_rate(self) -> float:
        return self.generated / (self.generation_ms / 1000) if self.generation_ms else 0.0


@dataclass
class Result:
    model: str
    threads: int
    context_tokens: int
    cold: list[Turn] = field(default_factory=list)
    follow_up: list[Turn] = field(default_factory=list)
    rss_mb: float = 0.0

    def summary(self) -> dict[str, float]:
        def median(values: list[float]) -> float:
            return statistics.median(values) if values else float("nan")

        return {
            "ttft_s": median([t.ttft for t in self.cold]),
            "follow_up_ttft_s": median([t.ttft for t in self.follow_up]),
            "prompt_tokens": median([t.prompt_tokens for t in self.cold]),
            "prompt_tok_s": median([t.prompt_rate for t in self.cold]),
            "generation_tok_s": median([t.generation_rate for t in self.cold + self.follow_up]),
            "follow_up_prompt_tokens": median([t.prompt_tokens for t in self.follow_up]),
            "rss_mb": self.rss_mb,
        }


class Server:
    """One llama.cpp server whose stderr (with llama.cpp's per-request timings) goes to a file we read."""

    def __init__(self, model: str, threads: int, context: int) -> None:
        self.settings = Settings(
            data_dir=ROOT / ".v1tr0",
            llm={"enabled": True, "model": model, "threads": threads, "context_tokens": context},
        )
        self.path = install(CATALOG[model], self.settings.data_dir / "models")
        self.log = Path(tempfile.mkstemp(prefix="llm-bench-", suffix=".log")[1])
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> Server:
        command = [*server_command(self.settings, self.path, self.port), "--verbose", "true"]
        self.process = subprocess.Popen(command, stderr=self.log.open("w"), stdout=subprocess.DEVNULL)
        wait_ready(self.base_url, self.process, timeout=300)
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.terminate()
        self.process.wait(30)
        self.log.unlink(missing_ok=True)

    def timings_after(self, offset: int) -> tuple[int, float, int, float]:
        """(prompt tokens, prompt ms, generated tokens, generation ms) of the request logged after
        `offset` (waits for llama.cpp to print them)."""
        for _ in range(100):
            found = {
                m.group(1): (float(m.group(2)), int(m.group(3))) for m in PERF.finditer(self.tail(offset))
            }
            if "prompt eval" in found and "eval" in found:
                (prompt_ms, prompt_tokens), (gen_ms, generated) = found["prompt eval"], found["eval"]
                return prompt_tokens, prompt_ms, generated, gen_ms
            time.sleep(0.05)
        raise RuntimeError("the server printed no timings")

    def tail(self, offset: int) -> str:
        with self.log.open() as handle:
            handle.seek(offset)
            return handle.read()

    def offset(self) -> int:
        return self.log.stat().st_size

    def rss_mb(self) -> float:
        import psutil

        return float(psutil.Process(self.process.pid).memory_info().rss / 2**20)


def contexts(budget: int, passages: list[str]) -> str:
    """Numbered passages up to `budget` tiktoken tokens, the way the app fills its answer context."""
    chosen: list[str] = []
    used = 0
    for passage in passages:
        block = f"[{len(chosen) + 1}] {passage}"
        cost = count_tokens(block)
        if used + cost > budget:
            break
        chosen.append(block)
        used += cost
    return "\n\n".join(chosen)


async def ask(server: Server, messages: list[dict[str, str]], max_tokens: int) -> Turn:
    client = make_client(base_url=server.base_url, api_key="", timeout=900, max_retries=0)
    offset = server.offset()
    started = time.perf_counter()
    first = None
    stream = await client.chat.completions.create(
        model=server.settings.llm.model,
        messages=messages,  # type: ignore[arg-type]
        max_tokens=max_tokens,
        temperature=0.0,
        stream=True,
    )
    async for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].delta.content:
            first = time.perf_counter() - started
    await client.close()
    prompt_tokens, prompt_ms, generated, gen_ms = server.timings_after(offset)
    return Turn(first or float("nan"), prompt_tokens, prompt_ms, generated, gen_ms)


def answer_messages(context: str, question: str, nonce: str) -> list[dict[str, str]]:
    prompt = default_library().get("answer")
    system, user = prompt.render(project_title="Proyecto XQuAD", context=context, question=question)
    return [{"role": "system", "content": f"Sesión {nonce}.\n{system}"}, {"role": "user", "content": user}]


async def measure(model: str, threads: int, budgets: list[int], args: argparse.Namespace) -> list[Result]:
    data = load_beir(args.dataset)
    passages = [doc.text for doc in data.docs]
    questions = list(data.queries.values())
    results = []
    with Server(model, threads, args.n_ctx) as server:
        await ask(server, [{"role": "user", "content": "Hola"}], 4)  # warm up: weights paged in
        for budget in budgets:
            if f"{model}:{threads}:{budget}" in args.skip.split(","):
                continue
            result = Result(model, threads, budget)
            context = contexts(budget, passages)
            for repeat in range(args.repeats):
                nonce = uuid.uuid4().hex[:8]
                cold = await ask(
                    server, answer_messages(context, questions[2 * repeat], nonce), args.max_tokens
                )
                again = await ask(
                    server, answer_messages(context, questions[2 * repeat + 1], nonce), args.max_tokens
                )
                result.cold.append(cold)
                result.follow_up.append(again)
                print(
                    f"  {model} t={threads} ctx={budget} #{repeat + 1}: ttft {cold.ttft:.1f}s "
                    f"({cold.prompt_tokens} tok, {cold.prompt_rate:.1f} tok/s), follow-up {again.ttft:.2f}s "
                    f"({again.prompt_tokens} tok), generation {cold.generation_rate:.1f} tok/s",
                    flush=True,
                )
            result.rss_mb = server.rss_mb()
            results.append(result)
    return results


async def overhead(model: str, repeats: int) -> dict[str, float]:
    """Time to first token of a short prompt: through the server vs llama_cpp.Llama in this process."""
    from llama_cpp import Llama

    messages = [{"role": "user", "content": "Di hola."}]
    with Server(model, 1, 512) as server:
        await ask(server, messages, 2)
        served = [(await ask(server, messages, 2)).ttft for _ in range(repeats)]
    llm = Llama(str(server.path), n_ctx=512, n_threads=1, logits_all=False, verbose=False)
    local = []
    for _ in range(repeats + 1):
        started = time.perf_counter()
        for chunk in llm.create_chat_completion(messages, max_tokens=2, temperature=0.0, stream=True):  # type: ignore[arg-type]
            if chunk["choices"][0]["delta"].get("content"):  # type: ignore[index,union-attr]
                local.append(time.perf_counter() - started)
                break
    return {"server_ttft_s": statistics.median(served), "in_process_ttft_s": statistics.median(local[1:])}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="qwen2.5-coder-1.5b,qwen2.5-coder-0.5b")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--contexts", default="3000,1000", help="context budgets, tiktoken tokens")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=48)
    parser.add_argument("--n-ctx", type=int, default=8192)
    parser.add_argument("--overhead-repeats", type=int, default=10)
    parser.add_argument(
        "--dataset", type=Path, default=Path("../shared/data/xquad_es"), help="XQuAD-es (BEIR)"
    )
    parser.add_argument("--skip", default="", help="MODEL:THREADS:CONTEXT,... configurations to leave out")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    models = args.models.split(",")
    budgets = [int(b) for b in args.contexts.split(",")]
    threads = [int(t) for t in args.threads.split(",")]

    import os

    print(f"load average at start: {os.getloadavg()}", flush=True)
    results: list[Result] = []
    for model in models:
        for count in threads:
            results.extend(asyncio.run(measure(model, count, budgets, args)))
    cost = asyncio.run(overhead(models[-1], args.overhead_repeats))
    print(f"load average at end: {os.getloadavg()}\n")

    header = (
        "model                 thr  ctx   prompt tok  TTFT s  follow-up s  prompt tok/s  gen tok/s  RSS MB"
    )
    print(header)
    summaries = {}
    for result in results:
        s = summaries[(result.model, result.threads, result.context_tokens)] = result.summary()
        print(
            f"{result.model:<21} {result.threads:>3} {result.context_tokens:>5} {s['prompt_tokens']:>10.0f} "
            f"{s['ttft_s']:>7.1f} {s['follow_up_ttft_s']:>12.2f} {s['prompt_tok_s']:>13.1f} "
            f"{s['generation_tok_s']:>10.1f} {s['rss_mb']:>7.0f}"
        )
    print("\nratios (same run):")
    for (model, count, budget), s in summaries.items():
        if count != threads[0]:
            base = summaries.get((model, threads[0], budget))
            if base:
                ttft = s["ttft_s"] / base["ttft_s"]
                generation = s["generation_tok_s"] / base["generation_tok_s"]
                print(
                    f"  {model} ctx {budget}: {count} threads vs {threads[0]}: TTFT x{ttft:.2f}, "
                    f"generation x{generation:.2f}"
                )
        follow_up = s["follow_up_ttft_s"] / s["ttft_s"]
        print(f"  {model} t={count} ctx {budget}: follow-up vs cold TTFT x{follow_up:.3f}")
    served, local = cost["server_ttft_s"] * 1000, cost["in_process_ttft_s"] * 1000
    print(
        f"  per-request cost of the server ({models[-1]}, short prompt): TTFT {served:.0f} ms "
        f"vs {local:.0f} ms in-process (+{served - local:.0f} ms)"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "results": [asdict(r) | {"summary": r.summary()} for r in results],
                    "overhead": cost,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
