"""Chat model providers behind one Protocol: any OpenAI-compatible /chat/completions endpoint (streaming),
and an offline extractive answerer that needs no weights: it picks the retrieved sentences that best
match the question and stitches them together with their citations."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import re
import unicodedata
from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx
from opentelemetry.trace import SpanKind

from core.errors import ProviderUnavailable
from core.providers.openai_http import RETRY_STATUSES, OpenAIHTTP
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
    if not settings.openai_configured:
        return ExtractiveModel()
    api_key = settings.openai.api_key.get_secret_value() if settings.openai.api_key else None
    client = OpenAIHTTP(
        base_url=settings.openai.base_url,
        api_key=api_key,
        timeout=settings.openai.timeout,
        max_retries=settings.openai.max_retries,
        client=http,
    )
    return OpenAIChatModel(client, model=settings.openai.chat_model)
