"""Chat turns streamed over SSE, buffered in Redis so a reconnecting client resumes the same answer.

A turn runs as a background task of the API process that appends its events to a Redis stream
(`start`, `delta`..., `citations`, `done` or `error`, with ids 1, 2, 3...). Any number of SSE responses
relay that stream, from the start or from a `Last-Event-ID`. When no client has been attached for
`chat_detach_grace` seconds, or the user presses stop, generation stops and what was generated is stored with
that status. A finished turn is stored and then ingested like any other artifact.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from api.access import require_project
from api.resources import Resources
from api.services.ai import limit_ai_use, make_retriever, project_names
from core import keys
from core.crud import fetch_page
from core.errors import DomainError, NotFound
from core.metrics import record_llm_usage
from core.models import ChatMessage, ChatStatus, MessageType, Project, SourceType, User
from core.outbox import record_change
from core.providers.llm import Usage
from ingestion.dispatcher import enqueue
from retrieval.chat import Turn, budget_history, format_history
from retrieval.pipeline import Citations, Delta, Done, Question, Start, answer_events
from retrieval.relevance import ProjectNames

log = logging.getLogger("v1tr0.chat")

STREAM_TTL = 3600
CHECK_INTERVAL = 0.25
FINAL_EVENTS = ("done", "error")


@dataclass
class TurnPlan:
    message_id: uuid.UUID
    conversation_id: uuid.UUID
    project_id: uuid.UUID
    project_title: str
    message: str
    history: list[Turn] = field(default_factory=list)
    scope: ProjectNames = field(default_factory=ProjectNames)


async def load_plan(session: AsyncSession, message_id: uuid.UUID) -> TurnPlan | None:
    """Everything a turn needs, re-read from the database (the turn may run in another process); None
    when there is nothing to generate (a finished turn is never generated again)."""
    row = await session.get(ChatMessage, message_id)
    if row is None or row.processing_status != ChatStatus.STREAMING:
        return None
    project = await session.get(Project, row.project_id)
    if project is None:
        return None
    earlier = (
        await session.scalars(
            sa.select(ChatMessage)
            .where(
                ChatMessage.conversation_id == row.conversation_id,
                ChatMessage.project_id == row.project_id,
                ChatMessage.user_id == row.user_id,
                ChatMessage.created_at < row.created_at,
                ChatMessage.processing_status == ChatStatus.COMPLETED,
            )
            .order_by(ChatMessage.created_at)
        )
    ).all()
    user = await session.get(User, row.user_id) if row.user_id else None
    return TurnPlan(
        row.id,
        row.conversation_id,
        row.project_id,
        project.title,
        row.message,
        [Turn(turn.message, turn.ai_response) for turn in earlier],
        await project_names(session, user, project)
        if user
        else ProjectNames(project.title, description=project.description or ""),
    )


async def start_turn(
    session: AsyncSession,
    resources: Resources,
    *,
    actor: User,
    project_id: uuid.UUID,
    message: str,
    conversation_id: uuid.UUID | None,
) -> ChatMessage:
    await require_project(session, actor, project_id)
    await limit_ai_use(resources, actor=actor, project_id=project_id)
    if conversation_id is not None:
        await require_conversation(
            session, actor=actor, project_id=project_id, conversation_id=conversation_id
        )
    row = ChatMessage(
        project_id=project_id,
        user_id=actor.id,
        conversation_id=conversation_id or uuid.uuid4(),
        message=message,
        message_type=MessageType.CHAT,
        processing_status=ChatStatus.STREAMING,
    )
    session.add(row)
    await session.flush()
    return row


async def require_conversation(
    session: AsyncSession, *, actor: User, project_id: uuid.UUID, conversation_id: uuid.UUID
) -> None:
    """A conversation is the caller's own, in this project; anyone else's is not found."""
    known = await session.scalar(
        sa.select(sa.exists().where(ChatMessage.conversation_id == conversation_id, _mine(actor, project_id)))
    )
    if not known:
        raise NotFound("conversation not found")


async def ensure_started(resources: Resources, message_id: uuid.UUID) -> None:
    """Start generating the turn unless some process already did. Called by the first reader, i.e.
    after the request that created the message committed."""
    if not await resources.redis.set(keys.chat_started(message_id), "1", nx=True, ex=STREAM_TTL):
        return
    task = asyncio.create_task(_run_by_id(resources, message_id), name=f"chat-{message_id}")
    resources.tasks.add(task)
    task.add_done_callback(resources.tasks.discard)


async def interrupt_local_turn(resources: Resources, message_id: uuid.UUID) -> None:
    """On server shutdown: stop this process's generation of the turn, which stores what it has as
    interrupted and emits the final `error` event (that the relay then passes on before the stream ends)."""
    for task in list(resources.tasks):
        if task.get_name() == f"chat-{message_id}":
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def _run_by_id(resources: Resources, message_id: uuid.UUID) -> None:
    async with resources.sessionmaker() as session:
        plan = await load_plan(session, message_id)
    if plan is not None:
        await run_turn(resources, plan)


class StreamWriter:
    def __init__(self, resources: Resources, message_id: uuid.UUID) -> None:
        self.redis = resources.redis
        self.message_id = message_id
        self.key = keys.chat_stream(message_id)
        self.seq = 0

    async def emit(self, event: str, data: dict[str, Any]) -> None:
        self.seq += 1
        await self.redis.xadd(
            self.key, {"event": event, "data": json.dumps(data, default=str)}, id=f"0-{self.seq}"
        )
        if self.seq == 1:
            await self.redis.expire(self.key, STREAM_TTL)


class StopReason(Exception):
    def __init__(self, status: ChatStatus) -> None:
        super().__init__(status.value)
        self.status = status


async def _check_stop(resources: Resources, message_id: uuid.UUID, started: float) -> None:
    redis = resources.redis
    cancel, readers, detached = await redis.mget(
        keys.chat_cancel(message_id), keys.chat_readers(message_id), keys.chat_detached(message_id)
    )
    if cancel:
        raise StopReason(ChatStatus.STOPPED)
    if int(readers or 0) <= 0:
        since = float(detached) if detached else started
        if time.time() - since > resources.settings.retrieval.chat_detach_grace:
            raise StopReason(ChatStatus.INTERRUPTED)


async def run_turn(resources: Resources, plan: TurnPlan) -> None:
    """Generate one turn into its Redis stream: the answer pipeline's events (start, delta…, citations,
    done) as SSE events, with stop checks between deltas; then store it, whatever happened."""
    writer = StreamWriter(resources, plan.message_id)
    config = resources.settings.retrieval
    prompt = resources.prompts.get("chat")
    answerer = resources.ai.answerer
    turn = StoredTurn(answerer.provider, answerer.model, prompt.version)
    parts: list[str] = []
    citations: list[dict[str, Any]] = []
    status, error = ChatStatus.COMPLETED, None
    started = time.time()
    try:
        standalone = await resources.ai.condenser.condense(plan.message, plan.history)
        question = Question(
            plan.message,
            standalone,
            scope=plan.scope,
            extra={
                "project_title": plan.project_title,
                "history": format_history(budget_history(plan.history, token_budget=config.history_tokens)),
            },
        )
        async with resources.sessionmaker() as session:
            retriever = await make_retriever(session, resources, project_ids=[plan.project_id])
            pending = retriever.index_pending
            events = answer_events(
                question,
                retriever=retriever,
                answerer=answerer,
                prompt=prompt,
                config=config,
                index_pending=pending,
                postprocessors=resources.ai.postprocessors,
            )
            last_check = time.monotonic()
            async for event in events:
                match event:
                    case Start():
                        ids = {"message_id": plan.message_id, "conversation_id": plan.conversation_id}
                        await writer.emit("start", {**ids, **event.payload()})
                    case Delta(text=text):
                        parts.append(text)
                        await writer.emit("delta", {"text": text})
                        if time.monotonic() - last_check >= CHECK_INTERVAL:
                            last_check = time.monotonic()
                            await _check_stop(resources, plan.message_id, started)
                    case Citations():
                        citations = event.citations
                        parts = [event.text]  # what is stored: only the citations that stand
                        # The final text too: a marker whose sentence its source does not hold is gone, and a
                        # sentence the model left uncited is cited to the source that holds it.
                        await writer.emit("citations", {"citations": citations, "text": event.text})
                    case Done():
                        turn.usage = event.usage
                        final: tuple[str, dict[str, Any]] = ("done", _done_payload(plan, event))
    except StopReason as stop:
        status = stop.status
        final = ("error", {"code": status.value, "message": f"generation {status.value}"})
    except asyncio.CancelledError:
        status, error = ChatStatus.INTERRUPTED, "the server stopped while answering"
        await _persist(resources, plan, turn, "".join(parts), status, error, citations)
        await _emit_quietly(writer, "error", {"code": "interrupted", "message": error})
        raise
    except DomainError as exc:
        status, error = ChatStatus.FAILED, exc.message
        final = ("error", {"code": exc.code, "message": exc.message})
    except Exception as exc:
        log.exception("chat turn failed", extra={"message_id": str(plan.message_id)})
        status, error = ChatStatus.FAILED, f"{type(exc).__name__}"
        final = ("error", {"code": "internal_error", "message": "the answer failed"})
    # Stored before the final event goes out: a client that reads the history (or sends a follow-up)
    # as soon as it sees `done` finds the turn there.
    try:
        await _persist(resources, plan, turn, "".join(parts), status, error, citations)
    except Exception:
        log.exception("could not store the chat turn", extra={"message_id": str(plan.message_id)})
        final = ("error", {"code": "internal_error", "message": "the answer could not be stored"})
    await _emit_quietly(writer, *final)


@dataclass
class StoredTurn:
    """Who answered, recorded with the turn."""

    provider: str
    model: str
    prompt_version: str
    usage: Usage = field(default_factory=Usage)


def _done_payload(plan: TurnPlan, done: Done) -> dict[str, Any]:
    return {
        "message_id": plan.message_id,
        "status": ChatStatus.COMPLETED.value,
        "usage": {
            "prompt_tokens": done.usage.prompt_tokens,
            "completion_tokens": done.usage.completion_tokens,
        },
        "timings": done.timings,
        "provider": done.provider,
        "model": done.model,
        "prompt_name": done.prompt_name,
        "prompt_version": done.prompt_version,
    }


async def _emit_quietly(writer: StreamWriter, event: str, data: dict[str, Any]) -> None:
    try:
        await writer.emit(event, data)
    except Exception:
        log.warning("could not write the %s event", event, exc_info=True)


async def _persist(
    resources: Resources,
    plan: TurnPlan,
    turn: StoredTurn,
    text: str,
    status: ChatStatus,
    error: str | None,
    citations: list[dict[str, Any]],
) -> None:
    usage = turn.usage
    record_llm_usage(
        provider=turn.provider,
        model=turn.model,
        project_id=plan.project_id,
        usage=usage,
        prices=resources.settings.openai,
    )
    async with resources.sessionmaker() as session, session.begin():
        row = await session.get(ChatMessage, plan.message_id)
        if row is None:  # the project was deleted meanwhile
            return
        row.ai_response = text.strip()
        row.processing_status = status
        row.error = error
        row.context_used = citations
        row.provider, row.model = turn.provider, turn.model
        row.prompt_name, row.prompt_version = "chat", turn.prompt_version
        row.usage = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}
        outbox = None
        if status == ChatStatus.COMPLETED:
            outbox = await record_change(
                session, project_id=plan.project_id, source_type=SourceType.CHAT, source_id=row.id
            )
    if outbox is not None:
        try:
            await enqueue(resources.redis, [(outbox.id, 0)])
        except Exception:
            log.warning("chat turn stored; the worker's sweep will index it", exc_info=True)


async def relay(
    resources: Resources, message_id: uuid.UUID, *, last_event_id: int = 0
) -> AsyncIterator[dict[str, str]]:
    """SSE events of one turn from the Redis buffer, from after `last_event_id` to the final event."""
    redis = resources.redis
    key = keys.chat_stream(message_id)
    await redis.incr(keys.chat_readers(message_id))
    await redis.expire(keys.chat_readers(message_id), STREAM_TTL)
    cursor = f"0-{last_event_id}"
    try:
        if not await redis.exists(key) and not await _still_running(resources, message_id):
            # The buffer expired: rebuild the turn's events from what was stored.
            async for replayed in _replay_from_database(resources, message_id, last_event_id):
                yield replayed
            return
        quiet_after_end = False
        # A turn that stays "streaming" with nothing new for this long has lost its generator (its API
        # process died): end the stream with an error instead of waiting forever.
        stall_after = resources.settings.openai.timeout + 30
        last_progress = time.monotonic()
        while True:
            entries = await redis.xread({key: cursor}, block=2000, count=200)
            if not entries:
                if await _still_running(resources, message_id):
                    if time.monotonic() - last_progress > stall_after:
                        data = json.dumps({"code": "stalled", "message": "the answer stopped arriving"})
                        yield {"event": "error", "data": data}
                        return
                    continue
                # The turn is stored; its final event follows at once. If even one more wait brings
                # nothing, none is coming (it could not be written): end rather than wait forever.
                if quiet_after_end:
                    return
                quiet_after_end = True
                continue
            last_progress = time.monotonic()
            for entry_id, fields in entries[0][1]:
                cursor = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                name = _text(fields[b"event"])
                yield {"id": cursor.split("-")[1], "event": name, "data": _text(fields[b"data"])}
                if name in FINAL_EVENTS:
                    return
    finally:
        try:
            await redis.decr(keys.chat_readers(message_id))
            await redis.set(keys.chat_detached(message_id), str(time.time()), ex=STREAM_TTL)
        except Exception:
            log.warning("could not record the detach of %s", message_id, exc_info=True)


async def nothing_left(resources: Resources, message_id: uuid.UUID, *, last_event_id: int) -> bool:
    """The turn is over and the client already has its final event (so it must not reconnect)."""
    last = await resources.redis.xrevrange(keys.chat_stream(message_id), count=1)
    if not last:
        return False
    entry_id, fields = last[0]
    return _text(fields[b"event"]) in FINAL_EVENTS and int(_text(entry_id).split("-")[1]) <= last_event_id


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _still_running(resources: Resources, message_id: uuid.UUID) -> bool:
    async with resources.sessionmaker() as session:
        status = await session.scalar(
            sa.select(ChatMessage.processing_status).where(ChatMessage.id == message_id)
        )
    return status == ChatStatus.STREAMING


async def _replay_from_database(
    resources: Resources, message_id: uuid.UUID, last_event_id: int
) -> AsyncIterator[dict[str, str]]:
    """The buffer expired: rebuild the turn's events from what was stored."""
    async with resources.sessionmaker() as session:
        row = await session.get(ChatMessage, message_id)
    if row is None or last_event_id >= 3:
        return
    events = [
        (
            "start",
            {"message_id": row.id, "conversation_id": row.conversation_id, "sources": row.context_used},
        ),
        ("delta", {"text": row.ai_response}),
        ("done", {"message_id": row.id, "status": row.processing_status, "replayed": True}),
    ]
    for index, (event, data) in enumerate(events, start=1):
        if index > last_event_id:
            yield {"id": str(index), "event": event, "data": json.dumps(data, default=str)}


def _mine(actor: User, project_id: uuid.UUID) -> sa.ColumnElement[bool]:
    """Chat turns are private: the caller's own, in this project (anyone else's is not found)."""
    return sa.and_(ChatMessage.project_id == project_id, ChatMessage.user_id == actor.id)


async def request_stop(
    session: AsyncSession, resources: Resources, *, actor: User, project_id: uuid.UUID, message_id: uuid.UUID
) -> None:
    await message_for(session, actor=actor, project_id=project_id, message_id=message_id)
    await resources.redis.set(keys.chat_cancel(message_id), "1", ex=STREAM_TTL)


async def message_for(
    session: AsyncSession, *, actor: User, project_id: uuid.UUID, message_id: uuid.UUID
) -> ChatMessage:
    await require_project(session, actor, project_id)
    row = await session.scalar(
        sa.select(ChatMessage).where(ChatMessage.id == message_id, _mine(actor, project_id))
    )
    if row is None:
        raise NotFound("message not found")
    return row


async def history(
    session: AsyncSession,
    *,
    actor: User,
    project_id: uuid.UUID,
    conversation_id: uuid.UUID | None,
    limit: int,
    offset: int,
) -> tuple[list[ChatMessage], int]:
    await require_project(session, actor, project_id)
    query = sa.select(ChatMessage).where(_mine(actor, project_id))
    if conversation_id:
        await require_conversation(
            session, actor=actor, project_id=project_id, conversation_id=conversation_id
        )
        query = query.where(ChatMessage.conversation_id == conversation_id)
    return await fetch_page(
        session, query, limit=limit, offset=offset, ordering=[ChatMessage.created_at.desc(), ChatMessage.id]
    )
