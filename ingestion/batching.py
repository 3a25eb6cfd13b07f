"""Micro-batching for embedders: concurrent jobs' texts go to the model in one call."""

from __future__ import annotations

import asyncio
import contextlib

from core.providers.embeddings import Embedder, Vector


class BatchingEmbedder:
    """Wraps an Embedder; calls arriving within `window` seconds share one `embed_passages` call."""

    def __init__(self, inner: Embedder, *, max_batch: int = 64, window: float = 0.005) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimensions = inner.dimensions
        self.max_batch = max_batch
        self.window = window
        self._pending: list[tuple[list[str], asyncio.Future[list[Vector]]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.calls = 0  # how many times the model was called (tests count re-embeds with it)

    async def embed_query(self, text: str) -> Vector:
        return await self.inner.embed_query(text)

    async def embed_passages(self, texts: list[str]) -> list[Vector]:
        if not texts:
            return []
        if len(texts) >= self.max_batch:
            self.calls += 1
            return await self.inner.embed_passages(texts)
        future: asyncio.Future[list[Vector]] = asyncio.get_running_loop().create_future()
        self._pending.append((list(texts), future))
        if sum(len(batch) for batch, _ in self._pending) >= self.max_batch:
            await self._flush()
        elif self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush_later())
        return await future

    async def _flush_later(self) -> None:
        await asyncio.sleep(self.window)
        await self._flush()

    async def _flush(self) -> None:
        pending, self._pending = self._pending, []
        if not pending:
            return
        texts = [text for batch, _ in pending for text in batch]
        self.calls += 1
        try:
            vectors = await self.inner.embed_passages(texts)
        except Exception as exc:
            for _, future in pending:
                if not future.done():
                    future.set_exception(exc)
            return
        offset = 0
        for batch, future in pending:
            with contextlib.suppress(asyncio.InvalidStateError):
                future.set_result(vectors[offset : offset + len(batch)])
            offset += len(batch)
