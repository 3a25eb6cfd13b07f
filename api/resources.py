"""Long-lived resources of one API process, created in the lifespan and closed there."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass, field

import httpx
from arq.connections import ArqRedis
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.db import create_engine, create_read_sessionmaker, create_sessionmaker
from core.identity import TokenVerifier
from core.providers.embeddings import Embedder, create_embedder
from core.providers.llm import ChatModel, create_chat_model
from core.settings import Settings
from ingestion.convert.isolation import ConverterPool
from prompts.loader import PromptLibrary, default_library
from retrieval.tasks import AnswerTasks, answer_tasks


@dataclass
class Resources:
    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    read_sessionmaker: async_sessionmaker[AsyncSession]  # autocommit, for GET requests
    redis: ArqRedis
    http: httpx.AsyncClient
    verifier: TokenVerifier
    prompts: PromptLibrary
    chat_model: ChatModel | None  # None offline
    ai: AnswerTasks  # the answering tasks for that model, chosen once
    converter: ConverterPool  # uploaded documents to Markdown, in child processes
    embedders: dict[str, Embedder] = field(default_factory=dict)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def embedder(self, name: str) -> Embedder:
        """The query embedder for the index's model, created once per process."""
        if name not in self.embedders:
            self.embedders[name] = create_embedder(self.settings, name=name, http=self.http)
        return self.embedders[name]

    @classmethod
    def open(cls, settings: Settings, *, http: httpx.AsyncClient | None = None) -> Resources:
        if not settings.redis_url:
            raise ValueError("no Redis URL: set REDIS_URL or start the embedded server first")
        engine = create_engine(settings)
        client = http or httpx.AsyncClient(timeout=10.0)
        prompts = default_library()
        chat_model = create_chat_model(settings, http=client)
        return cls(
            settings=settings,
            engine=engine,
            sessionmaker=create_sessionmaker(engine),
            read_sessionmaker=create_read_sessionmaker(engine),
            redis=ArqRedis.from_url(
                settings.redis_url, socket_timeout=5, socket_connect_timeout=2, health_check_interval=30
            ),
            http=client,
            verifier=TokenVerifier(settings, client),
            prompts=prompts,
            chat_model=chat_model,
            ai=answer_tasks(chat_model, prompts, postprocessors=settings.retrieval.postprocessors),
            converter=ConverterPool(
                workers=settings.documents.workers,
                timeout=settings.documents.timeout,
                memory_bytes=settings.documents.memory_mb * 1024 * 1024,
            ),
        )

    def with_chat_model(self, model: ChatModel | None) -> Resources:
        """These resources with another chat model (and the tasks made for it)."""
        tasks = answer_tasks(model, self.prompts, postprocessors=self.settings.retrieval.postprocessors)
        return dataclasses.replace(self, chat_model=model, ai=tasks, tasks=set())

    async def close(self) -> None:
        # Answers still streaming end with an error event and are stored as interrupted.
        for task in list(self.tasks):
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        await self.converter.close()
        await self.http.aclose()
        await self.redis.aclose()
        await self.engine.dispose()
