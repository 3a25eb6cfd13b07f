"""The hybrid retriever as a LlamaIndex `BaseRetriever` over our own chunks table.

The allowed project ids are a required constructor argument: a retriever that could search without
them does not exist."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ServiceUnavailable
from core.models import ModelStatus, SourceType
from core.outbox import UNINDEXED
from core.providers.embeddings import Embedder
from core.reads import session_rows
from core.settings import RetrievalSettings
from retrieval.answerers import Asked
from retrieval.lexical import (
    CHUNK_CHANGES_SQL,
    Bm25Strategy,
    CorpusChanges,
    Lexical,
    bm25_way_sql,
    scope_size_params,
)
from retrieval.search import (
    Hit,
    Mode,
    SearchFilters,
    clean_query,
    query_vector,
    search_chunks,
    with_snippets,
)
from retrieval.windows import WINDOW_SEGMENTS


@dataclass(frozen=True)
class IndexModel:
    name: str
    dimensions: int


# core.vectors.serving_model's question, on the driver (core.reads.session_rows): every search and answer
# asks it, and the ORM select through the session cost ~0.8 ms of CPU.
SERVING_MODEL = "FROM embedding_models m WHERE m.status = 'serving'"
SERVING = f"SELECT m.name, m.dimensions {SERVING_MODEL}"
assert ModelStatus.SERVING.value == "serving"  # the literal above


NO_MODEL = "the search index is not ready yet (no embedding model is serving)"


async def current_model(session: AsyncSession) -> IndexModel:
    rows = await session_rows(session, SERVING, {})
    if not rows:
        raise ServiceUnavailable(NO_MODEL)
    return IndexModel(rows[0].name, rows[0].dimensions)


@dataclass(frozen=True)
class SearchScope:
    """What searching these projects needs to know first, read in one statement: the serving model, how
    BM25 runs over them (a small scope: over its own chunks, with exact neighbours), how many of their
    changes the index does not reflect yet, and the chunks table's change counter (when BM25's kept
    corpus statistics must be read again)."""

    model: IndexModel
    bm25: Bm25Strategy | None  # None: the database ranks full text with ts_rank
    pending: int
    corpus: CorpusChanges | None = None


async def search_scope(
    session: AsyncSession, project_ids: list[uuid.UUID], *, lexical: Lexical
) -> SearchScope:
    """The SearchScope of `project_ids` (the BM25 way only where BM25 runs), in one round trip instead of
    three: each statement costs the API ~0.2-0.3 ms of driver work and PostgreSQL a parse, bind and
    execute."""
    way = bm25_way_sql("m.name") if lexical == "bm25" else "NULL::text"
    # Only constant SQL is put together here; the projects are a bound parameter.
    columns = f"m.name, m.dimensions, {way} AS way, ({UNINDEXED}) AS pending, {CHUNK_CHANGES_SQL}"
    params = {**scope_size_params(), "project_ids": list(project_ids)}
    rows = await session_rows(session, f"SELECT {columns} {SERVING_MODEL}", params)
    if not rows:
        raise ServiceUnavailable(NO_MODEL)
    row = rows[0]
    corpus = CorpusChanges(int(row.chunk_changes), int(row.chunk_rows))
    return SearchScope(IndexModel(row.name, row.dimensions), row.way, int(row.pending), corpus)


PER_SOURCE = 2  # places one non-transcript source may take in a page of search results
# A query that asks for a date, an amount or a person ("fecha de lanzamiento del portal", "precio de la prueba
# de nivel") re-ranks its first KIND_POOL results: one that holds such a thing gains KIND_WEIGHT of the
# spread of their scores. The words of "fecha de lanzamiento" are all over a project; the segment that
# answers it says "sale el 1 de marzo" (meetings sets: search nDCG@10 up on 13 queries, down on 2).
KIND_POOL = 30
KIND_WEIGHT = 0.3


def kind_first(pool: list[Hit], wants: Asked, *, weight: float = KIND_WEIGHT) -> list[Hit]:
    """`pool` re-ranked: each hit's score, scaled to the pool's spread, plus `weight` when it holds what
    the query asks for (Asked.held_in). Ties keep the pool's order."""
    if len(pool) < 2:
        return pool
    low = min(hit.score for hit in pool)
    spread = (max(hit.score for hit in pool) - low) or 1.0
    return sorted(
        pool, key=lambda hit: (hit.score - low) / spread + weight * wants.held_in(hit.content), reverse=True
    )


def diversify(pool: list[Hit], *, limit: int, offset: int, per_source: int = PER_SOURCE) -> list[Hit]:
    """The page of `pool` in which one non-transcript source takes at most `per_source` places: what the
    search statement computes for search_diverse (kept here as its specification: the tests check the
    statement's pages against it)."""
    kept: list[Hit] = []
    held: list[Hit] = []
    seen: dict[tuple[str, uuid.UUID], int] = {}
    for hit in pool:
        key = (hit.source_type.value, hit.source_id)
        if hit.source_type != SourceType.TRANSCRIPT and seen.get(key, 0) >= per_source:
            held.append(hit)
            continue
        seen[key] = seen.get(key, 0) + 1
        kept.append(hit)
    return (kept + held)[offset : offset + limit]


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
        bm25: Bm25Strategy | None = None,
        index_pending: int = 0,
        corpus: CorpusChanges | None = None,
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
        self.bm25 = bm25  # None: search_chunks asks the database (when BM25 runs)
        self.index_pending = index_pending  # the projects' changes not in the index yet (SearchScope)
        self.corpus = corpus  # the chunks table's change counter (SearchScope), for BM25's statistics

    async def search(
        self,
        query: str,
        *,
        limit: int | None = None,
        offset: int = 0,
        snippets: bool = True,
        filters: SearchFilters | None = None,
        per_source: int | None = None,
        results_page: bool = False,
    ) -> list[Hit]:
        """Ranked chunks of the allowed projects; `filters` narrows this one search (default: the
        retriever's own); `per_source`: see search_diverse; `results_page`: see search.search_chunks."""
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
            filters=filters or self.filters,
            snippets=snippets,
            bm25=self.bm25,
            per_source=per_source,
            corpus=self.corpus,
            results_page=results_page,
        )

    async def search_diverse(
        self, query: str, *, limit: int, offset: int = 0, per_source: int = PER_SOURCE
    ) -> list[Hit]:
        """A results page in which one document (or summary, or project description) takes at most
        `per_source` places: its further chunks move below the other sources' results. Transcript
        units are each a different moment of a meeting and are never held back, and are weighed with
        their own vector weight (search.transcript_vector_weight). For a query that asks
        for a date, an amount or a person, the first KIND_POOL results are re-ranked (kind_first): every
        page of them is cut from the same order."""
        # Picked from a pool three pages deep by the statement itself; snippets for the page only.
        wants = Asked.of(query)
        if not wants.kind or offset >= KIND_POOL:
            return await self.search(
                query, limit=limit, offset=offset, per_source=per_source, results_page=True
            )
        pool = await self.search(
            query,
            limit=max(KIND_POOL, offset + limit),
            per_source=per_source,
            snippets=False,
            results_page=True,
        )
        ranked = kind_first(pool[:KIND_POOL], wants) + pool[KIND_POOL:]
        return with_snippets(ranked[offset : offset + limit], query)

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        # No snippets: an answer shows those of the sources it keeps (retrieval.pipeline.answer_events).
        hits = await self.search(query_bundle.query_str, snippets=False)
        return [to_node(hit) for hit in hits]

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        # LlamaIndex's synchronous entry point, for scripts; the service itself is async throughout.
        return asyncio.run(self._aretrieve(query_bundle))


# Node metadata that is ours to map a node back to its chunk: never shown to a model or an embedder.
_HIT_KEYS = (
    "chunk_id",
    "project_id",
    "source_type",
    "source_id",
    "chunk_index",
    "similarity",
    "text_rank",
    "token_count",
    "snippet",
    "highlights",
    "language",
    "chunk_meta",
    "chunk_content",
)


def to_node(hit: Hit) -> NodeWithScore:
    """A hit as a LlamaIndex node (id = chunk id), for node postprocessors; `to_hit` maps it back."""
    node = TextNode(
        id_=str(hit.chunk_id),
        text=hit.content,
        metadata={
            **hit.meta,
            "chunk_meta": hit.meta,
            "chunk_content": hit.content,
            "chunk_id": hit.chunk_id,
            "project_id": str(hit.project_id),
            "source_type": hit.source_type.value,
            "source_id": str(hit.source_id),
            "chunk_index": hit.chunk_index,
            "similarity": hit.similarity,
            "text_rank": hit.text_rank,
            "token_count": hit.token_count,
            "snippet": hit.snippet,
            "highlights": hit.highlights,
            "language": hit.language,
        },
        excluded_embed_metadata_keys=[*_HIT_KEYS, *hit.meta],
        excluded_llm_metadata_keys=[*_HIT_KEYS, *hit.meta],
    )
    return NodeWithScore(node=node, score=hit.score)


def to_hit(scored: NodeWithScore) -> Hit | None:
    """The chunk behind a node, with the node's score and (when a postprocessor changed it) its text as
    the answerer's context; None for a node that is not one of our chunks."""
    meta = scored.node.metadata
    if "chunk_id" not in meta:
        return None
    original: dict[str, Any] = meta.get("chunk_meta") or {}
    content = str(meta.get("chunk_content") or "")
    text = scored.node.get_content()
    return Hit(
        chunk_id=int(meta["chunk_id"]),
        project_id=uuid.UUID(str(meta["project_id"])),
        source_type=SourceType(meta["source_type"]),
        source_id=uuid.UUID(str(meta["source_id"])),
        chunk_index=int(meta["chunk_index"]),
        content=content or text,
        context=text if content and text != content else None,
        meta=original,
        score=float(scored.score or 0.0),
        similarity=meta.get("similarity"),
        text_rank=meta.get("text_rank"),
        snippet=str(meta.get("snippet") or ""),
        token_count=meta.get("token_count"),
        highlights=list(meta.get("highlights") or []),
        language=str(meta.get("language") or "simple"),
        window=list(meta.get(WINDOW_SEGMENTS) or []),
    )
