"""The OpenAI-compatible streaming chat client driven through httpx.MockTransport (usage, retries,
timeouts, malformed chunks)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
import pytest

from core.errors import ProviderUnavailable
from core.providers.llm import Generation, OpenAIChatModel, Usage, complete
from core.providers.openai_client import openai_client
from core.settings import Settings
from tests.retrieval.helpers import DONE, completion, delta_chunk, sse_chunk, streamed, usage_chunk

# --- OpenAI-compatible ---------------------------------------------------------------------------------

GENERATION = Generation(
    messages=[{"role": "system", "content": "Eres útil."}, {"role": "user", "content": "¿Quién paga?"}],
    question="¿Quién paga?",
)


class Endpoint:
    """A /chat/completions endpoint answering with the next response of a script, recording requests."""

    def __init__(self, *responses: Any) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    async def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        response = self.responses.pop(0)
        if isinstance(response, Exception):
            raise response
        return response() if callable(response) else response

    @property
    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(request.content) for request in self.requests]


def model_for(endpoint: Endpoint, *, max_retries: int = 2, **kwargs: Any) -> OpenAIChatModel:
    settings = Settings(
        openai={"base_url": "http://llm.test/v1/", "api_key": "sk-test", "max_retries": max_retries}
    )
    http = httpx.AsyncClient(transport=httpx.MockTransport(endpoint.handler))
    return OpenAIChatModel(openai_client(settings, http=http), model="gpt-test", **kwargs)


async def collect(model: OpenAIChatModel, parts: list[str]) -> None:
    """Stream GENERATION into `parts` (which keeps what arrived before a failure)."""
    async for part in model.stream(GENERATION, Usage()):
        parts.append(part)


async def test_streams_deltas_and_takes_usage_from_the_final_chunk():
    endpoint = Endpoint(
        streamed(
            [
                b": keep-alive\n\n",
                delta_chunk("Paga "),
                b"event: ignored\n",
                delta_chunk("el cliente"),
                sse_chunk(
                    {"choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": "stop"}]}
                ),
                delta_chunk(" [1]."),
                usage_chunk(42, 5),
                DONE,
                delta_chunk("after done, ignored"),
            ]
        )
    )
    usage = Usage()
    model = model_for(endpoint)
    parts = [part async for part in model.stream(GENERATION, usage)]
    assert parts == ["Paga ", "el cliente", " [1]."]
    assert (usage.prompt_tokens, usage.completion_tokens) == (42, 5)

    (request,) = endpoint.requests
    assert str(request.url) == "http://llm.test/v1/chat/completions"
    assert request.headers["authorization"] == "Bearer sk-test"
    body = endpoint.bodies[0]
    assert body["model"] == "gpt-test" and body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["messages"] == GENERATION.messages and "response_format" not in body


async def test_without_reported_usage_tokens_are_counted():
    endpoint = Endpoint(completion(["uno ", "dos ", "tres"]))
    text, usage = await complete(model_for(endpoint), GENERATION)
    assert text == "uno dos tres"
    assert usage.completion_tokens == 3 and usage.prompt_tokens > 0  # counted with tiktoken


async def test_json_mode_asks_for_a_json_object():
    endpoint = Endpoint(completion(['{"a": 1}']))
    await complete(
        model_for(endpoint), Generation(messages=GENERATION.messages, question="q", json_mode=True)
    )
    assert endpoint.bodies[0]["response_format"] == {"type": "json_object"}


async def test_retries_429_and_5xx_before_the_first_token_honouring_retry_after(caplog):
    endpoint = Endpoint(
        httpx.Response(429, headers={"retry-after": "0.01"}, text="slow down"),
        httpx.Response(503, headers={"retry-after-ms": "20"}, text="overloaded"),
        completion(["hola"]),
    )
    with caplog.at_level(logging.INFO, logger="openai"):
        text, _ = await complete(model_for(endpoint), GENERATION)
    assert text == "hola" and len(endpoint.requests) == 3
    # The SDK waits what the server asked for (and says so).
    waits = [r.getMessage().rsplit(" in ", 1)[1] for r in caplog.records if "Retrying" in r.getMessage()]
    assert waits == ["0.010000 seconds", "0.020000 seconds"]


async def test_transport_errors_before_the_first_token_are_retried():
    endpoint = Endpoint(httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), completion(["hola"]))
    text, _ = await complete(model_for(endpoint), GENERATION)
    assert text == "hola" and len(endpoint.requests) == 3


async def test_gives_up_after_the_retries():
    endpoint = Endpoint(*[httpx.Response(500, text="boom")] * 3)
    with pytest.raises(ProviderUnavailable, match=r"after retries \(HTTP 500: boom\)"):
        await complete(model_for(endpoint, max_retries=2), GENERATION)
    assert len(endpoint.requests) == 3

    endpoint = Endpoint(httpx.ReadTimeout("slow"), httpx.ReadTimeout("slow"))
    with pytest.raises(ProviderUnavailable, match="ReadTimeout"):
        await complete(model_for(endpoint, max_retries=1), GENERATION)


async def test_a_refused_request_is_not_retried():
    endpoint = Endpoint(httpx.Response(400, json={"error": {"message": "bad model"}}))
    with pytest.raises(ProviderUnavailable, match=r"refused the request.*400"):
        await complete(model_for(endpoint), GENERATION)
    assert len(endpoint.requests) == 1


async def test_a_first_token_that_never_comes_times_out_and_is_retried():
    never = asyncio.Event()

    async def hold(index: int) -> None:
        if index == 0:
            await never.wait()

    endpoint = Endpoint(
        lambda: streamed([delta_chunk("nunca")], gate=hold),
        lambda: streamed([delta_chunk("nunca")], gate=hold),
        completion(["por fin"]),
    )
    text, _ = await complete(model_for(endpoint, first_token_timeout=0.05), GENERATION)
    assert text == "por fin" and len(endpoint.requests) == 3

    endpoint = Endpoint(lambda: streamed([delta_chunk("nunca")], gate=hold))
    with pytest.raises(ProviderUnavailable, match=r"no first token within 0\.05s"):
        await complete(model_for(endpoint, max_retries=0, first_token_timeout=0.05), GENERATION)


async def test_a_stream_that_breaks_after_text_fails_without_a_retry():
    async def break_off(index: int) -> None:
        if index == 2:
            raise httpx.ReadError("connection reset")

    endpoint = Endpoint(
        streamed([delta_chunk("Paga "), delta_chunk("el "), delta_chunk("cliente")], gate=break_off)
    )
    parts: list[str] = []
    with pytest.raises(ProviderUnavailable, match="broke off"):
        await collect(model_for(endpoint), parts)
    assert parts == ["Paga ", "el "] and len(endpoint.requests) == 1


@pytest.mark.parametrize(
    "bad",
    [
        b"data: {not json\n\n",
        b"data: [1, 2]\n\n",
        b'data: "text"\n\n',
        sse_chunk({"choices": "abc"}),
        sse_chunk({"choices": [{"delta": "abc"}]}),
        sse_chunk({"choices": [{"delta": {"content": ["a", "b"]}}]}),
        sse_chunk({"choices": [1]}),
    ],
)
async def test_a_malformed_chunk_is_provider_unavailable(bad):
    endpoint = Endpoint(streamed([delta_chunk("Hola "), bad, delta_chunk("mundo"), DONE]))
    parts: list[str] = []
    with pytest.raises(ProviderUnavailable, match="malformed stream chunk"):
        await collect(model_for(endpoint), parts)
    assert parts == ["Hola "] and len(endpoint.requests) == 1


async def test_an_error_reported_mid_stream_is_provider_unavailable():
    endpoint = Endpoint(
        streamed(
            [delta_chunk("Hola "), sse_chunk({"error": {"message": "overloaded", "type": "server_error"}})]
        )
    )
    with pytest.raises(ProviderUnavailable, match="reported an error"):
        await complete(model_for(endpoint), GENERATION)


async def test_odd_usage_values_are_ignored_not_fatal():
    endpoint = Endpoint(
        streamed(
            [
                delta_chunk("a"),
                sse_chunk({"choices": [], "usage": {"prompt_tokens": None, "completion_tokens": "2"}}),
            ]
        )
    )
    text, usage = await complete(model_for(endpoint), GENERATION)
    assert text == "a" and usage.prompt_tokens > 0
