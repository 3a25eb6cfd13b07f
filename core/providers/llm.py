"""Chat model providers behind one Protocol: any OpenAI-compatible /chat/completions endpoint (streaming),
and an offline extractive answerer that needs no weights: it picks the retrieved sentences that best
match the question and stitches them together with their citations."""

from __future__ import annotations

import asyncio
import contextlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

import httpx
import openai
from openai.types.chat import ChatCompletionChunk
from openai.types.chat.chat_completion_chunk import Choice as ChunkChoice
from openai.types.chat.chat_completion_chunk import ChoiceDelta
from opentelemetry.trace import SpanKind

from core.errors import ProviderUnavailable
from core.providers.local_llm import served_name
from core.providers.openai_client import make_client, openai_client, provider_error
from core.settings import Settings
from core.tokens import count_tokens
from core.tracing import mark_failed, start_span


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
    json_schema: dict[str, Any] | None = None  # constrain the answer to this schema (structured output)
    schema_name: str = "answer"


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
            "json_schema": {"name": request.schema_name, "schema": request.json_schema, "strict": True},
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


# --- offline extractive answerer -------------------------------------------------------------------

_SENTENCE = re.compile(r"(?<=[.!?¿¡…])\s+(?=[A-ZÁÉÍÓÚÑ¿¡0-9\[])|\n+")
_TOKEN = re.compile(r"\w+", re.UNICODE)
STOPWORDS = frozenset(
    [
        "a",
        "al",
        "algo",
        "ante",
        "como",
        "con",
        "cual",
        "cuando",
        "de",
        "del",
        "desde",
        "donde",
        "el",
        "ella",
        "ellos",
        "en",
        "entre",
        "era",
        "es",
        "esa",
        "ese",
        "eso",
        "esta",
        "este",
        "esto",
        "fue",
        "ha",
        "han",
        "hay",
        "la",
        "las",
        "le",
        "les",
        "lo",
        "los",
        "mas",
        "me",
        "mi",
        "muy",
        "no",
        "nos",
        "o",
        "para",
        "pero",
        "por",
        "que",
        "qué",
        "quien",
        "se",
        "ser",
        "si",
        "sin",
        "sobre",
        "su",
        "sus",
        "también",
        "te",
        "tiene",
        "un",
        "una",
        "uno",
        "unos",
        "y",
        "ya",
        "cuál",
        "cuándo",
        "cómo",
        "dónde",
        "quién",
        "cuánto",
        "cuántos",
        "cuántas",
        "the",
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "can",
        "do",
        "does",
        "for",
        "from",
        "has",
        "have",
        "how",
        "i",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "their",
        "there",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "you",
        "your",
    ]
)
HEADER = re.compile(r"^\[[^\]]*\]\s*")


def _fold(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.lower())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def content_terms(text: str) -> list[str]:
    """Lower-cased, accent-folded content words, cut to a 5-letter prefix (a crude shared stemmer)."""
    return [word[:5] for word in _TOKEN.findall(_fold(text)) if word not in STOPWORDS and len(word) > 1]


def split_sentences(text: str) -> list[str]:
    body = "\n".join(HEADER.sub("", line) for line in text.splitlines())
    return [part.strip() for part in _SENTENCE.split(body) if part and len(part.strip()) > 2]


@dataclass(frozen=True)
class Extract:
    n: int
    sentence: str
    score: float


def rank_sentences(question: str, passages: list[ContextPassage]) -> list[Extract]:
    """Score every sentence of the passages by overlap with the question (IDF-weighted over the passages),
    with a prior for passages retrieval ranked higher."""
    query = set(content_terms(question))
    sentences = [(p.n, rank, s) for rank, p in enumerate(passages) for s in split_sentences(p.text)]
    if not query or not sentences:
        return []
    document_frequency = Counter(term for _, _, s in sentences for term in set(content_terms(s)))
    total = len(sentences)
    extracts = []
    for n, rank, sentence in sentences:
        terms = set(content_terms(sentence))
        overlap = query & terms
        if not overlap:
            continue
        weight = sum(math.log(1 + total / document_frequency[t]) for t in overlap)
        norm = math.sqrt(len(terms) + 1)
        extracts.append(Extract(n, sentence, weight / norm + 0.3 / (1 + rank)))
    return sorted(extracts, key=lambda e: e.score, reverse=True)


def extractive_answer(question: str, passages: list[ContextPassage], *, max_sentences: int = 3) -> str:
    chosen: list[Extract] = []
    seen: set[str] = set()
    for extract in rank_sentences(question, passages):
        key = _fold(extract.sentence)
        if key in seen:
            continue
        seen.add(key)
        chosen.append(extract)
        if len(chosen) == max_sentences:
            break
    if not chosen:
        return ""
    best = chosen[0].score
    chosen = [e for e in chosen if e.score >= best * 0.35]
    order = {p.n: i for i, p in enumerate(passages)}
    chosen.sort(key=lambda e: order[e.n])
    parts = []
    for extract in chosen:
        sentence = extract.sentence.rstrip()
        if sentence[-1:] not in ".!?…":
            sentence += "."
        parts.append(f"{sentence[:-1]} [{extract.n}]{sentence[-1]}")
    return " ".join(parts)


class ExtractiveModel:
    """The offline default. Not a language model: it quotes the best-matching retrieved sentences."""

    provider = "extractive"
    model = "extractive-v1"

    def __init__(self, *, delay: float = 0.0) -> None:
        self.delay = delay

    async def stream(self, request: Generation, usage: Usage) -> AsyncIterator[str]:
        answer = extractive_answer(request.question, request.passages)
        usage.prompt_tokens = sum(p.token_count for p in request.passages)
        if not answer:
            return
        pieces = re.findall(r"\S+\s*", answer)
        usage.completion_tokens = len(pieces)
        for piece in pieces:
            if self.delay:
                await asyncio.sleep(self.delay)
            yield piece


def create_chat_model(settings: Settings, *, http: httpx.AsyncClient | None = None) -> ChatModel:
    """The model that answers chat and /ask: a configured OpenAI-compatible provider, the local model when
    it is on and asked to answer, or the extractive answerer."""
    if settings.openai_configured:
        return OpenAIChatModel(openai_client(settings, http=http), model=settings.openai.chat_model)
    if settings.llm.answers and (local := create_local_chat_model(settings, http=http)) is not None:
        return local
    return ExtractiveModel()


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
