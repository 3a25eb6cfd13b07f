"""Recording artifact changes in the outbox, inside the caller's transaction."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

from core.logs import request_id_var
from core.models import Outbox, OutboxAction, OutboxStatus, SourceType
from core.tracing import current_traceparent

PENDING_KEY = "v1tr0_outbox_rows"
AFTER_COMMIT_KEY = "v1tr0_after_commit"


def after_commit(session: AsyncSession, action: Callable[[], Awaitable[None]]) -> None:
    """Run `action` once the request's transaction has committed (never for a rolled-back one). Best
    effort: durable state must not depend on it (the worker's sweeps catch up)."""
    session.info.setdefault(AFTER_COMMIT_KEY, []).append(action)


def pop_after_commit(session: AsyncSession) -> list[Callable[[], Awaitable[None]]]:
    actions: list[Callable[[], Awaitable[None]]] = session.info.pop(AFTER_COMMIT_KEY, [])
    return actions


async def record_change(
    session: AsyncSession,
    *,
    project_id: uuid.UUID | None,
    source_type: SourceType,
    source_id: uuid.UUID,
    action: OutboxAction = OutboxAction.UPSERT,
) -> Outbox:
    """Add an outbox row; it commits (or rolls back) with the change that caused it."""
    row = Outbox(
        project_id=project_id,
        source_type=source_type,
        source_id=source_id,
        action=action,
        request_id=request_id_var.get(),
        trace_context=current_traceparent(),
    )
    session.add(row)
    session.info.setdefault(PENDING_KEY, []).append(row)
    return row


def written_rows(session: AsyncSession) -> list[Outbox]:
    """Outbox rows this session wrote (and its commit made durable); cleared once read."""
    rows: list[Outbox] = session.info.pop(PENDING_KEY, [])
    return rows


# Changes of some projects that the index does not reflect yet (waiting, retrying or dead-lettered): while
# there are any, answers and results may miss them. Read with the rest of a search's scope
# (retrieval.retriever.search_scope); `status <> 'done'` is the partial index's predicate (cheap).
UNINDEXED = "SELECT count(*) AS count FROM outbox WHERE project_id = ANY(:project_ids) AND status <> 'done'"
assert OutboxStatus.DONE.value == "done"  # the literal above (a literal, as in the partial index)
