"""The hybrid retriever as a LlamaIndex `BaseRetriever` over our own chunks table.

The allowed project ids are a required constructor argument: a retriever that could search without
them does not exist."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ServiceUnavailable
from core.providers.embeddings import Embedder
from core.settings import RetrievalSettings
from core.vectors import serving_model
from retrieval.search import Hit, Mode, SearchFilters, clean_query, query_vector, search_chunks


@dataclass(frozen=True)
class IndexModel:
    name: str
    dimensions: int


async def current_model(session: AsyncSession) -> IndexModel:
    model = await serving_model(session)
    if model is None:
        raise ServiceUnavailable("the search index is not ready yet (no embedding model is serving)")
    return IndexModel(model.name, model.dimensions)


class HybridRetriever(BaseRetriever):
    def __init__(
        self,
        *,
        session: AsyncSession,
        project_ids: list[uuid.UUID],
        embedder: Embedder,
        model: IndexModel,
        config: RetrievalSettings,
        redis: Redis | None = None,
        mode: Mode = "hybrid",
        filters: SearchFilters | None = None,
        top_k: int = 10,
    ) -> None:
        if embedder.name != model.name:
            raise ValueError(f"query embedder {embedder.name} does not match the index model {model.name}")
        super().__init__()
        self.session = session
        self.project_ids = list(project_ids)
        self.embedder = embedder
        self.model = model
        self.config = config
        self.redis = redis
        self.mode = mode
        self.filters = filters or SearchFilters()
        self.top_k = top_k

    async def search(
        self, query: str, *, limit: int | None = None, offset: int = 0, snippets: bool = True
    ) -> list[Hit]:
        query = clean_query(query)
        if not query or not self.project_ids:
            return []
        vector = None
        if self.mode != "text":
            vector = await query_vector(self.redis, self.embedder, query, ttl=self.config.query_cache_ttl)
        return await search_chunks(
            self.session,
            project_ids=self.project_ids,
            query=query,
            query_embedding=vector,
            model=self.model.name,
            dimensions=self.model.dimensions,
            config=self.config,
            limit=limit or self.top_k,
            offset=offset,
            mode=self.mode,
            filters=self.filters,
            snippets=snippets,
        )

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = await self.search(query_bundle.query_str, snippets=False)
        return [to_node(hit) for hit in hits]

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        # LlamaIndex's synchronous entry point, for scripts; the service itself is async throughout.
        return asyncio.run(self._aretrieve(query_bundle))


def to_node(hit: Hit) -> NodeWithScore:
    node = TextNode(
        id_=str(hit.chunk_id),
        text=hit.content,
        metadata={
            **hit.meta,
            "chunk_id": hit.chunk_id,
            "project_id": str(hit.project_id),
            "source_type": hit.source_type.value,
            "source_id": str(hit.source_id),
        },
    )
    return NodeWithScore(node=node, score=hit.score)
