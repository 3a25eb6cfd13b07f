"""Chat models behind one Protocol: any OpenAI-compatible /chat/completions endpoint (streaming), and
structured output validated against a pydantic model. What to do without a chat model is each task's
own business (their offline implementations live with the tasks: retrieval/answerers.py,
meetings/summaries.py, ...)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import httpx
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ValidationError

from core.errors import ProviderUnavailable
from core.providers.openai_http import RETRY_STATUSES, OpenAIHTTP
from core.settings import Settings
from core.tokens import count_tokens
from core.tracing import mark_failed, start_span

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class ContextPassage:
    n: int  # the citation number the answer uses
    text: str
    tokens: int | None = None  # known from the index (chunks.token_count): no need to encode it again

    @property
    def token_count(self) -> int:
        return self.tokens if self.tokens is not None else count_tokens(self.text)


@dataclass
class Generation:
    """What to generate: chat messages for an LLM, plus the question and numbered passages they were built
    from (the extractive provider works on those)."""

    messages: list[dict[str, str]]
    question: str
    passages: list[ContextPassage] = field(default_factory=list)
    max_tokens: int = 700
    temperature: float = 0.2
    json_mode: bool = False


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0


class ChatModel(Protocol):
    provider: str
    model: str

    def stream(self, request: Generation, usage: Usage) -> AsyncIterator[str]: ...


async def complete(model: ChatModel, request: Generation) -> tuple[str, Usage]:
    usage = Usage()
    parts = [delta async for delta in model.stream(request, usage)]
    return "".join(parts), usage


class StructuredOutputFailed(Exception):
    """The model kept answering something that does not validate (or kept failing)."""


async def complete_structured(
    model: ChatModel,
    rendered: tuple[str, str],
    schema: type[M],
    *,
    question: str,
    max_tokens: int,
    attempts: int = 2,
) -> M:
    """Ask for JSON (the rendered system and user messages) and validate it against `schema`, trying
    again when the answer is not valid; raise StructuredOutputFailed with the last reason."""
    system, user = rendered
    last_error = "no attempt"
    for _ in range(attempts):
        try:
            text, _ = await complete(
                model,
                Generation(
                    messages=[{"role": "system", "content": system}, {"role": "user", "content": user}],
                    question=question,
                    json_mode=True,
                    max_tokens=max_tokens,
                    temperature=0.0,
                ),
            )
            return schema.model_validate(json.loads(text))
        except (ValueError, ValidationError) as exc:
            last_error = f"invalid structured output: {str(exc)[:300]}"
        except ProviderUnavailable as exc:
            last_error = exc.message
    raise StructuredOutputFailed(last_error)


MALFORMED_CHUNK = "the model sent a malformed stream chunk"


def parse_chunk(data: str, usage: Usage) -> list[str]:
    """The text deltas of one streamed chunk; a usage it reports is copied into `usage`. Anything that is
    not a chat.completion.chunk (or an error the provider reports mid-stream) is ProviderUnavailable."""
    try:
        chunk = json.loads(data)
        if not isinstance(chunk, dict):
            raise TypeError(type(chunk).__name__)
        texts: list[str] = []
        for choice in chunk.get("choices") or []:
            content = (choice.get("delta") or {}).get("content")
            if content is not None and not isinstance(content, str):
                raise TypeError(type(content).__name__)
            if content:
                texts.append(content)
    except (ValueError, TypeError, AttributeError):
        raise ProviderUnavailable(MALFORMED_CHUNK) from None
    if chunk.get("error"):
        raise ProviderUnavailable("the model reported an error in the middle of its answer")
    reported = chunk.get("usage")
    if isinstance(reported, dict):
        for key in ("prompt_tokens", "completion_tokens"):
            if isinstance(reported.get(key), int):
                setattr(usage, key, reported[key])
    else:
        usage.completion_tokens += len(texts)
    return texts


class OpenAIChatModel:
    """Streams /chat/completions with SSE. Connection errors, 429/5xx answers and a first token that does
    not come within `first_token_timeout` are retried (with backoff, honouring Retry-After); once text
    has been streamed, a failure is final."""

    provider = "openai-compatible"

    def __init__(self, http: OpenAIHTTP, *, model: str, first_token_timeout: float = 30.0) -> None:
        self.http = http
        self.model = model
        self.first_token_timeout = first_token_timeout

    async def stream(self, request: Generation, usage: Usage) -> AsyncIterator[str]:
        # Not the current span: the stream is consumed across the caller's awaits and may be closed
        # from another task; nothing runs inside it that would make child spans anyway.
        span = start_span(
            f"chat {self.model}",
            kind=SpanKind.CLIENT,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": self.provider,
                "gen_ai.request.model": self.model,
                "gen_ai.request.max_tokens": request.max_tokens,
            },
        )
        try:
            # Closing this stream early (a client gone) closes the HTTP stream under it at once.
            async with contextlib.aclosing(self._stream(request, usage)) as deltas:
                async for delta in deltas:
                    yield delta
        except Exception as exc:
            mark_failed(span, exc)
            raise
        finally:
            span.set_attribute("gen_ai.usage.input_tokens", usage.prompt_tokens)
            span.set_attribute("gen_ai.usage.output_tokens", usage.completion_tokens)
            span.end()

    async def _stream(self, request: Generation, usage: Usage) -> AsyncGenerator[str, None]:
        payload: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if request.json_mode:
            payload["response_format"] = {"type": "json_object"}
        usage.prompt_tokens = sum(count_tokens(m["content"]) for m in request.messages)
        last_error = "no attempt made"
        streaming = False
        for attempt in range(self.http.max_retries + 1):
            refused: httpx.Response | None = None
            try:
                async with self.http.client.stream(
                    "POST",
                    self.http.base_url + "/chat/completions",
                    json=payload,
                    headers=self.http.headers,
                    timeout=httpx.Timeout(self.http.timeout, connect=10.0),
                ) as response:
                    if response.status_code >= 400:
                        body = (await response.aread()).decode(errors="replace")[:300]
                        last_error = f"HTTP {response.status_code}: {body}"
                        if response.status_code not in RETRY_STATUSES:
                            raise ProviderUnavailable(f"the model refused the request ({last_error})")
                        refused = response
                    else:
                        deltas = self._deltas(response, usage)
                        try:
                            async with asyncio.timeout(self.first_token_timeout):
                                first = await anext(deltas, None)
                        except TimeoutError:
                            last_error = f"no first token within {self.first_token_timeout:g}s"
                        else:
                            streaming = True
                            if first is not None:
                                yield first
                                async for delta in deltas:
                                    yield delta
                            return
                        finally:
                            await deltas.aclose()
            except httpx.TransportError as exc:
                last_error = f"{type(exc).__name__}"
                if streaming:
                    raise ProviderUnavailable(f"the model stream broke off ({last_error})") from None
            if attempt < self.http.max_retries:
                await asyncio.sleep(self.http.delay(attempt, refused))
        raise ProviderUnavailable(f"the model failed after retries ({last_error})")

    async def _deltas(self, response: httpx.Response, usage: Usage) -> AsyncGenerator[str, None]:
        async for line in response.aiter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                return
            for text in parse_chunk(data, usage):
                yield text


def create_chat_model(settings: Settings, *, http: httpx.AsyncClient | None = None) -> ChatModel | None:
    """The configured chat model, or None offline (then the tasks use their offline implementations)."""
    if not settings.openai_configured:
        return None
    api_key = settings.openai.api_key.get_secret_value() if settings.openai.api_key else None
    client = OpenAIHTTP(
        base_url=settings.openai.base_url,
        api_key=api_key,
        timeout=settings.openai.timeout,
        max_retries=settings.openai.max_retries,
        client=http,
    )
    return OpenAIChatModel(client, model=settings.openai.chat_model)
