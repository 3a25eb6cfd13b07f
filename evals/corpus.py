"""Eval corpora: each dataset's documents in an eval project of their own, chunked and embedded by the
product's chunkers and indexer. The project is keyed by dataset name + corpus hash; loading the same
content again reuses its chunks, and an interrupted load resumes (what was written is not embedded again).
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from tqdm import tqdm

from core.models import Chunk, EvalDataset, Project, SourceType
from core.providers.embeddings import E5_MODEL, STATIC_MODEL, Embedder, Vector
from core.settings import IngestionSettings
from core.vectors import ensure_model_index
from evals.loaders import BEIR, CorpusDoc, Dataset
from ingestion.chunkers import ChunkDraft, chunk_prose, chunk_transcript, content_hash
from ingestion.indexer import replace_chunks

log = logging.getLogger("v1tr0.evals")

DOC_NAMESPACE = uuid.UUID("8d3c9a51-2f4e-4d0b-9c1a-6e7f10b2c3d4")
EVAL_SOURCE_TYPES = (SourceType.DOCUMENT, SourceType.TRANSCRIPT)
# Documents are written (and committed) in batches of at most this many documents or chunks, so an
# interrupted load loses little and the progress bar moves even for long meeting transcripts.
BATCH_DOCUMENTS = 64
BATCH_CHUNKS = 128
# bench/retrieval.py caches passage vectors of whole BEIR corpora under <data dir>/bench-cache; a
# document that is one chunk has exactly the text the bench embedded, so its vector is reused.
BENCH_MODEL_NAMES = {E5_MODEL: "e5", STATIC_MODEL: "static"}


@dataclass(frozen=True)
class EvalCorpus:
    project_id: uuid.UUID
    title: str
    chunks: int
    embedded: int  # texts sent to the model by this load
    reused: bool  # already loaded: nothing was chunked or embedded


def doc_source_id(corpus_hash: str, doc_id: str) -> uuid.UUID:
    return uuid.uuid5(DOC_NAMESPACE, f"{corpus_hash}:{doc_id}")


def doc_drafts(doc: CorpusDoc, *, source_id: uuid.UUID, chunking: IngestionSettings) -> list[ChunkDraft]:
    """The product's chunks for a document (prose) or a transcript; each keeps the dataset's doc id."""
    meta = {"doc_id": doc.id}
    if doc.is_transcript:
        segments = [{"speaker": speaker, "text": text} for speaker, text in doc.turns]
        return chunk_transcript(
            segments,
            meeting_id=str(source_id),
            meeting_title=doc.title,
            max_tokens=chunking.chunk_tokens,
            meta=meta,
        )
    return chunk_prose(
        doc.text,
        source_type=SourceType.DOCUMENT,
        title=doc.title,
        max_tokens=chunking.chunk_tokens,
        overlap=chunking.chunk_overlap,
        meta=meta,
    )


class PrecomputedEmbedder:
    """The real embedder's name and size, answering from vectors computed beforehand (by content hash)."""

    def __init__(self, embedder: Embedder, vectors: Mapping[str, Vector]) -> None:
        self.name = embedder.name
        self.dimensions = embedder.dimensions
        self._embedder = embedder
        self._vectors = vectors

    async def embed_passages(self, texts: list[str]) -> list[Vector]:
        unknown = [text for text in texts if content_hash(text) not in self._vectors]
        fresh = (
            dict(zip(unknown, await self._embedder.embed_passages(unknown), strict=True)) if unknown else {}
        )
        return [fresh[text] if text in fresh else self._vectors[content_hash(text)] for text in texts]

    async def embed_query(self, text: str) -> Vector:
        return await self._embedder.embed_query(text)


def bench_cache_vectors(dataset: Dataset, model: str, cache_dir: Path) -> dict[str, Vector]:
    """Vectors bench/retrieval.py cached for this very corpus and model (keyed by content hash), if any."""
    short = BENCH_MODEL_NAMES.get(model)
    if dataset.format != BEIR or short is None or dataset.subset:
        return {}
    texts = [f"[{doc.title}]\n{doc.text}" if doc.title else doc.text for doc in dataset.docs]
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode())
        digest.update(b"\0")
    path = cache_dir / f"{short}-{len(texts)}-{digest.hexdigest()[:16]}.npy"
    if not path.exists():
        return {}
    matrix = np.load(path)
    if matrix.shape[0] != len(texts):
        return {}
    log.info("reusing %s bench vectors from %s", len(texts), path)
    return {content_hash(text): row.tolist() for text, row in zip(texts, matrix, strict=True)}


def _lock_key(name: str, corpus_hash: str) -> int:
    return int.from_bytes(
        hashlib.sha256(f"eval:{name}:{corpus_hash}".encode()).digest()[:8], "big", signed=True
    )


async def _dataset_row(session: AsyncSession, dataset: Dataset) -> EvalDataset:
    row = await session.scalar(
        sa.select(EvalDataset).where(
            EvalDataset.name == dataset.name, EvalDataset.content_hash == dataset.corpus_hash
        )
    )
    if row is None:
        project = Project(
            title=f"[eval] {dataset.name} {dataset.corpus_hash[:12]}",
            description=f"Evaluation corpus of {dataset.name} ({dataset.format}); not shown by the API.",
            is_eval=True,
        )
        session.add(project)
        await session.flush()
        row = EvalDataset(
            name=dataset.name,
            content_hash=dataset.corpus_hash,
            format=dataset.format,
            project_id=project.id,
            documents=len(dataset.docs),
            loaded={},
        )
        session.add(row)
        await session.flush()
    return row


async def _chunk_count(session: AsyncSession, project_id: uuid.UUID, model: str) -> int:
    count = await session.scalar(
        sa.select(sa.func.count())
        .select_from(Chunk)
        .where(Chunk.project_id == project_id, Chunk.embedding_model == model)
    )
    return int(count or 0)


async def ensure_corpus(
    sessionmaker: async_sessionmaker[AsyncSession],
    dataset: Dataset,
    *,
    embedder: Embedder,
    chunking: IngestionSettings,
    cache_dir: Path | None = None,
    progress: bool = True,
) -> EvalCorpus:
    """The dataset's eval project with every document chunked and embedded for `embedder`."""
    lock = _lock_key(dataset.name, dataset.corpus_hash)
    settings_used = {"chunk_tokens": chunking.chunk_tokens, "chunk_overlap": chunking.chunk_overlap}
    async with sessionmaker() as session, session.begin():
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))
        row = await _dataset_row(session, dataset)
        await ensure_model_index(session, name=embedder.name, dimensions=embedder.dimensions)
        project_id, title = row.project_id, f"[eval] {dataset.name}"
        marker: dict[str, Any] = row.loaded.get(embedder.name) or {}
        complete = marker.get("chunking") == settings_used
        if complete and await _chunk_count(session, project_id, embedder.name) == marker.get("chunks"):
            return EvalCorpus(project_id, title, int(marker["chunks"]), 0, reused=True)
    cached = bench_cache_vectors(dataset, embedder.name, cache_dir) if cache_dir else {}
    embedded = 0
    bar = tqdm(total=len(dataset.docs), desc=f"indexing {dataset.name}", unit="doc", disable=not progress)
    try:
        for batch in _batches(dataset, chunking):
            async with sessionmaker() as session, session.begin():
                await session.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))
                embedded += await _index_batch(
                    session, dataset, batch, project_id=project_id, embedder=embedder, cached=cached
                )
            bar.update(len(batch))
    finally:
        bar.close()
    async with sessionmaker() as session, session.begin():
        await session.execute(sa.select(sa.func.pg_advisory_xact_lock(lock)))
        chunks = await _chunk_count(session, project_id, embedder.name)
        row = await _dataset_row(session, dataset)
        row.loaded = {**row.loaded, embedder.name: {"chunks": chunks, "chunking": settings_used}}
    async with sessionmaker() as session, session.begin():
        await session.execute(sa.text("ANALYZE chunks"))
    return EvalCorpus(project_id, title, chunks, embedded, reused=False)


def _batches(dataset: Dataset, chunking: IngestionSettings) -> Iterator[dict[CorpusDoc, list[ChunkDraft]]]:
    """The documents with their chunks, in batches of BATCH_DOCUMENTS documents or BATCH_CHUNKS chunks."""
    batch: dict[CorpusDoc, list[ChunkDraft]] = {}
    for doc in dataset.docs:
        batch[doc] = doc_drafts(doc, source_id=doc_source_id(dataset.corpus_hash, doc.id), chunking=chunking)
        if len(batch) >= BATCH_DOCUMENTS or sum(len(drafts) for drafts in batch.values()) >= BATCH_CHUNKS:
            yield batch
            batch = {}
    if batch:
        yield batch


async def _index_batch(
    session: AsyncSession,
    dataset: Dataset,
    drafts: Mapping[CorpusDoc, list[ChunkDraft]],
    *,
    project_id: uuid.UUID,
    embedder: Embedder,
    cached: Mapping[str, Vector],
) -> int:
    """Embed in one call the batch's texts that are neither stored nor cached, then write its chunks."""
    batch = list(drafts)
    stored = set(
        (
            await session.scalars(
                sa.select(Chunk.content_hash).where(
                    Chunk.project_id == project_id,
                    Chunk.embedding_model == embedder.name,
                    Chunk.source_id.in_([doc_source_id(dataset.corpus_hash, doc.id) for doc in batch]),
                )
            )
        ).all()
    )
    vectors: dict[str, Vector] = {}
    missing: dict[str, str] = {}
    for chunks in drafts.values():
        for draft in chunks:
            digest = draft.content_hash
            if digest in cached:
                vectors[digest] = cached[digest]
            elif digest not in stored:
                missing[digest] = draft.content
    if missing:
        fresh = await embedder.embed_passages(list(missing.values()))
        vectors.update(zip(missing, fresh, strict=True))
    lookup = PrecomputedEmbedder(embedder, vectors)
    for doc in batch:
        await replace_chunks(
            session,
            embedder=lookup,
            project_id=project_id,
            source_id=doc_source_id(dataset.corpus_hash, doc.id),
            source_types=EVAL_SOURCE_TYPES,
            drafts=drafts[doc],
        )
    return len(missing)
