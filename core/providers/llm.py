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
from typing import Any, Literal, Protocol, TypeVar

import httpx
import openai
from openai.types.chat import ChatCompletionChunk
from openai.types.chat.chat_completion_chunk import Choice as ChunkChoice
from openai.types.chat.chat_completion_chunk import ChoiceDelta
from opentelemetry.trace import SpanKind
from pydantic import BaseModel, ValidationError

from core.errors import ProviderUnavailable
from core.providers.local_llm import served_name
from core.providers.openai_client import make_client, openai_client, provider_error
from core.settings import Settings
from core.tokens import count_tokens
from core.tracing import mark_failed, start_span

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class ContextPassage:
    n: int  # the citation number the answer uses
    text: str
    tokens: int | None = None  # known from the index (chunks.token_count): no need to encode it again
    meeting: str | None = None  # the meeting it comes from (its transcript, summary, ledger line ...)
    when: str | None = None  # that meeting's date (ISO 8601): which of several meetings is the latest

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
    json_schema: dict[str, Any] | None = None  # constrain the answer to this schema (structured output)
    schema_name: str = "answer"
    strict_schema: bool = False  # OpenAI's strict mode: only for schemas whose every property is required


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


def json_schema_of(schema: type[BaseModel]) -> tuple[dict[str, Any], bool]:
    """The model's JSON schema with `additionalProperties: false` on every object (a grammar-constrained
    model cannot invent keys), and whether it qualifies for OpenAI's strict mode (every property
    required)."""
    document = schema.model_json_schema()
    strict = True

    def close(node: Any) -> None:
        nonlocal strict
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node.setdefault("additionalProperties", False)
                strict = strict and set(node["properties"]) <= set(node.get("required", ()))
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(document)
    return document, strict


async def complete_structured(
    model: ChatModel,
    rendered: tuple[str, str],
    schema: type[M],
    *,
    question: str,
    max_tokens: int,
    attempts: int = 2,
) -> M:
    """Ask for JSON (the rendered system and user messages) constrained to `schema` where the server can
    (llama.cpp turns it into a grammar; OpenAI's structured outputs) and validate it, asking again with
    the error when the answer does not fit; raise StructuredOutputFailed with the last reason."""
    system, user = rendered
    messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
    document, strict = json_schema_of(schema)
    conversation = messages
    last_error = "no attempt"
    for _ in range(attempts):
        try:
            text, _ = await complete(
                model,
                Generation(
                    messages=conversation,
                    question=question,
                    json_mode=True,
                    json_schema=document,
                    schema_name=schema.__name__,
                    strict_schema=strict,
                    max_tokens=max_tokens,
                    temperature=0.0,
                ),
            )
        except ProviderUnavailable as exc:
            last_error = exc.message
            continue
        try:
            return schema.model_validate(json.loads(text))
        except (ValueError, ValidationError) as exc:
            last_error = f"invalid structured output: {str(exc)[:300]}"
        # At temperature 0 the same question gets the same answer: show the model what was wrong.
        conversation = [
            *messages,
            {"role": "assistant", "content": text},
            {"role": "user", "content": f"That answer is not valid ({last_error}). Answer again, JSON only."},
        ]
    raise StructuredOutputFailed(last_error)


MALFORMED_CHUNK = "the model sent a malformed stream chunk"


def chunk_texts(chunk: object, usage: Usage) -> list[str]:
    """The text deltas of one streamed chunk; a usage it reports is copied into `usage`. The SDK builds
    chunks without validating them, so anything that is not a chat.completion.chunk is
    ProviderUnavailable here."""
    try:
        if not isinstance(chunk, ChatCompletionChunk):
            raise TypeError(type(chunk).__name__)
        choices = getattr(chunk, "choices", None) or []
        if not isinstance(choices, list):
            raise TypeError(type(choices).__name__)
        texts: list[str] = []
        for choice in choices:
            if not isinstance(choice, ChunkChoice):
                raise TypeError(type(choice).__name__)
            delta = getattr(choice, "delta", None)
            if delta is None:
                continue
            if not isinstance(delta, ChoiceDelta):
                raise TypeError(type(delta).__name__)
            content = getattr(delta, "content", None)
            if content is not None and not isinstance(content, str):
                raise TypeError(type(content).__name__)
            if content:
                texts.append(content)
    except TypeError:
        raise ProviderUnavailable(MALFORMED_CHUNK) from None
    reported = getattr(chunk, "usage", None)
    if reported is not None:
        for key in ("prompt_tokens", "completion_tokens"):
            value = getattr(reported, key, None)
            if isinstance(value, int):
                setattr(usage, key, value)
    else:
        usage.completion_tokens += len(texts)
    return texts


# How a server takes a JSON schema to constrain the answer to: OpenAI's (and llama.cpp's own server's)
# `json_schema`, or llama-cpp-python's server, which reads `{"type": "json_object", "schema": ...}` and
# turns it into a grammar.
SchemaStyle = Literal["json_schema", "json_object_schema"]


def response_format(request: Generation, style: SchemaStyle = "json_schema") -> dict[str, Any] | None:
    """`response_format` for the request: a JSON schema, any JSON object, or nothing."""
    if request.json_schema is not None:
        if style == "json_object_schema":
            return {"type": "json_object", "schema": request.json_schema}
        return {
            "type": "json_schema",
            "json_schema": {
                "name": request.schema_name,
                "schema": request.json_schema,
                "strict": request.strict_schema,
            },
        }
    if request.json_mode:
        return {"type": "json_object"}
    return None


class OpenAIChatModel:
    """Streams /chat/completions through the `openai` SDK, which retries connection errors and 429/5xx
    answers (with backoff, honouring Retry-After). A first token that does not come within
    `first_token_timeout` is retried too, from the same retry budget; once text has been streamed, a
    failure is final."""

    provider = "openai-compatible"

    def __init__(
        self,
        client: openai.AsyncOpenAI,
        *,
        model: str,
        first_token_timeout: float = 30.0,
        provider: str = "",
        schema_style: SchemaStyle = "json_schema",
    ) -> None:
        self.client = client
        self.model = model
        self.first_token_timeout = first_token_timeout
        self.schema_style = schema_style
        if provider:
            self.provider = provider

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
        options: dict[str, Any] = {
            "model": self.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens,
            "temperature": request.temperature,
            "stream": True,
            "stream_options": {"include_usage": True},
        }
        if (format_ := response_format(request, self.schema_style)) is not None:
            options["response_format"] = format_
        usage.prompt_tokens = sum(count_tokens(m["content"]) for m in request.messages)
        budget = self.client.max_retries
        last_error = "no attempt made"
        for attempt in range(budget + 1):
            # The SDK retries what fails before the answer starts; a silent stream spends the same budget.
            client = self.client.with_options(max_retries=budget - attempt)
            try:
                stream = await client.chat.completions.create(**options)
            except openai.OpenAIError as exc:
                raise provider_error(exc, who="the model") from None
            deltas = self._deltas(stream, usage)
            try:
                async with asyncio.timeout(self.first_token_timeout):
                    first = await anext(deltas, None)
            except TimeoutError:
                last_error = f"no first token within {self.first_token_timeout:g}s"
            except httpx.TransportError as exc:
                last_error = type(exc).__name__
            else:
                if first is not None:
                    yield first
                    try:
                        async for delta in deltas:
                            yield delta
                    except httpx.TransportError as exc:
                        raise ProviderUnavailable(
                            f"the model stream broke off ({type(exc).__name__})"
                        ) from None
                return
            finally:
                await deltas.aclose()
                await stream.close()
        raise ProviderUnavailable(f"the model failed after retries ({last_error})")

    async def _deltas(
        self, stream: openai.AsyncStream[ChatCompletionChunk], usage: Usage
    ) -> AsyncGenerator[str, None]:
        iterator = aiter(stream)
        while True:
            try:
                chunk = await anext(iterator)
            except StopAsyncIteration:
                return
            except openai.APIError:
                raise ProviderUnavailable("the model reported an error in the middle of its answer") from None
            except ValueError:  # a data line that is not JSON
                raise ProviderUnavailable(MALFORMED_CHUNK) from None
            for text in chunk_texts(chunk, usage):
                yield text


def create_chat_model(settings: Settings, *, http: httpx.AsyncClient | None = None) -> ChatModel | None:
    """The model that answers chat and /ask: a configured OpenAI-compatible provider, or the local model
    when it is on and asked to answer (`V1TR0_LLM__ANSWERS`); None offline (then the tasks use their
    offline implementations)."""
    if settings.openai_configured:
        return OpenAIChatModel(openai_client(settings, http=http), model=settings.openai.chat_model)
    if settings.llm.answers:
        return create_local_chat_model(settings, http=http)
    return None


def create_task_model(settings: Settings, *, http: httpx.AsyncClient | None = None) -> ChatModel | None:
    """The model for background tasks (meeting summaries, commitments): a configured provider, else the
    local model whenever it is on (minutes per meeting are fine in a job); None offline."""
    if settings.openai_configured:
        return OpenAIChatModel(openai_client(settings, http=http), model=settings.openai.chat_model)
    return create_local_chat_model(settings, http=http)


LOCAL_PROVIDER = "llama.cpp"


def create_local_chat_model(
    settings: Settings, *, http: httpx.AsyncClient | None = None
) -> OpenAIChatModel | None:
    """The local llama.cpp server as a chat model, when it is enabled and its URL known (`v1tr0 run`
    exports it to the API and the worker); None otherwise."""
    config = settings.llm
    if not (config.enabled and config.base_url):
        return None
    client = make_client(
        base_url=config.base_url,
        api_key="",
        timeout=config.timeout,
        max_retries=config.max_retries,
        http=http,
    )
    return OpenAIChatModel(
        client,
        model=served_name(config.model),
        first_token_timeout=config.first_token_timeout,
        provider=LOCAL_PROVIDER,
        schema_style="json_object_schema",
    )
