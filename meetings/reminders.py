"""Commitments falling due and overdue, announced once each on their project's event feed. A sweep of the
worker (meetings/jobs.py) marks them in the statement that finds them, so that two workers never announce
one twice; a commitment that is done or dropped before its day is never announced."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import feed
from core.feed import FeedEvent
from core.models import Commitment, CommitmentStatus
from meetings.ledger import commitment_brief

log = logging.getLogger("v1tr0.reminders")

SWEEP_INTERVAL = 60.0  # seconds; due dates are days


async def announce_due_commitments(
    sessionmaker: async_sessionmaker[AsyncSession], redis: Redis, *, due_soon_days: int
) -> int:
    """Announce open commitments due within `due_soon_days` days (today included) and those past their
    date, each once; returns how many were announced. Marked first, then published: an event lost to a
    Redis outage is not sent again (the ledger, `GET /projects/{id}/commitments?overdue=true`, stays the
    truth), and none is ever sent twice."""
    today = sa.func.current_date()
    open_with_date = sa.and_(Commitment.status == CommitmentStatus.OPEN, Commitment.due_date.is_not(None))
    async with sessionmaker() as session, session.begin():
        due_soon = (
            await session.scalars(
                sa.update(Commitment)
                .where(
                    open_with_date,
                    Commitment.due_soon_announced_at.is_(None),
                    Commitment.due_date >= today,
                    Commitment.due_date <= today + sa.literal(due_soon_days, sa.Integer),
                )
                .values(due_soon_announced_at=sa.func.now())
                .returning(Commitment)
            )
        ).all()
        overdue = (
            await session.scalars(
                sa.update(Commitment)
                .where(open_with_date, Commitment.overdue_announced_at.is_(None), Commitment.due_date < today)
                .values(overdue_announced_at=sa.func.now())
                .returning(Commitment)
            )
        ).all()
    for event, rows in ((FeedEvent.COMMITMENT_DUE_SOON, due_soon), (FeedEvent.COMMITMENT_OVERDUE, overdue)):
        for row in rows:
            await feed.publish(redis, row.project_id, event, **commitment_brief(row))
    if due_soon or overdue:
        log.info("commitments announced", extra={"due_soon": len(due_soon), "overdue": len(overdue)})
    return len(due_soon) + len(overdue)
