"""Micro-batching for embedders: concurrent jobs' texts go to the model in one call."""

from __future__ import annotations

import asyncio
import contextlib

from core.providers.embeddings import Embedder, Vector

Request = tuple[list[str], asyncio.Future[list[Vector]]]  # one caller's texts and where its vectors go


class BatchingEmbedder:
    """Wraps an Embedder; concurrent `embed_passages` calls share one model call.

    One runner feeds the model: the first call waits `window` seconds for company, and every call that
    arrives while the model is busy joins the next batch (up to `max_batch` texts; a larger call goes
    alone). Under load the batches grow by themselves, which is where a CPU model is fastest; an idle
    system pays only the window."""

    def __init__(self, inner: Embedder, *, max_batch: int = 64, window: float = 0.005) -> None:
        self.inner = inner
        self.name = inner.name
        self.dimensions = inner.dimensions
        self.max_batch = max_batch
        self.window = window
        self._pending: list[Request] = []
        self._runner: asyncio.Task[None] | None = None
        self.calls = 0  # how many times the model was called (tests count re-embeds with it)

    async def embed_query(self, text: str) -> Vector:
        return await self.inner.embed_query(text)

    async def embed_passages(self, texts: list[str]) -> list[Vector]:
        if not texts:
            return []
        future: asyncio.Future[list[Vector]] = asyncio.get_running_loop().create_future()
        self._pending.append((list(texts), future))
        if self._runner is None or self._runner.done():
            self._runner = asyncio.create_task(self._run())
        return await future

    def _next_batch(self) -> list[Request]:
        batch: list[Request] = []
        size = 0
        while self._pending:
            texts, future = self._pending[0]
            if future.done():  # its caller was cancelled: nothing to embed
                self._pending.pop(0)
                continue
            if batch and size + len(texts) > self.max_batch:
                break
            batch.append(self._pending.pop(0))
            size += len(texts)
        return batch

    async def _run(self) -> None:
        try:
            if sum(len(texts) for texts, _ in self._pending) < self.max_batch:
                await asyncio.sleep(self.window)
            while batch := self._next_batch():
                await self._embed(batch)
        except BaseException as exc:  # cancelled (shutdown): nobody else would answer the waiting callers
            _fail(self._pending, exc)
            self._pending.clear()
            raise

    async def _embed(self, batch: list[Request]) -> None:
        texts = [text for request, _ in batch for text in request]
        self.calls += 1
        try:
            vectors = await self.inner.embed_passages(texts)
        except BaseException as exc:
            _fail(batch, exc)
            if not isinstance(exc, Exception):
                raise
            return
        offset = 0
        for request, future in batch:
            with contextlib.suppress(asyncio.InvalidStateError):
                future.set_result(vectors[offset : offset + len(request)])
            offset += len(request)


def _fail(requests: list[Request], exc: BaseException) -> None:
    for _, future in requests:
        if future.done():
            continue
        if isinstance(exc, Exception):
            future.set_exception(exc)
        else:
            future.cancel()
