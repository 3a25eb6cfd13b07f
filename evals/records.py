"""Run records: every eval run and its per-question results are stored (eval_runs, eval_items)."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psutil
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.models import EvalItem, EvalRun, EvalRunStatus

REPO_ROOT = Path(__file__).resolve().parent.parent
# A run whose process is on another machine counts as gone once it has not reported for this long.
STALE_AFTER = timedelta(minutes=15)
QUEUED_FOR_TOO_LONG = timedelta(hours=6)
ERROR_LIMIT = 2000


def git_commit(cwd: Path = REPO_ROOT) -> str | None:
    """`git rev-parse HEAD` of the checkout, or None (no git, not a checkout)."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],  # noqa: S607
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    return commit if result.returncode == 0 and re.fullmatch(r"[0-9a-f]{40,64}", commit) else None


def this_runner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _process_gone(runner: str | None) -> bool:
    host, _, pid = (runner or "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return int(pid) != os.getpid() and not psutil.pid_exists(int(pid))


async def mark_stale_runs(session: AsyncSession) -> int:
    """Runs left `running` by a process that is gone (killed, crashed, machine restarted) become failed."""
    now = datetime.now(UTC)
    runs = (await session.scalars(sa.select(EvalRun).where(EvalRun.status == EvalRunStatus.RUNNING))).all()
    stale = 0
    for run in runs:
        silent = run.heartbeat_at is None or now - run.heartbeat_at > STALE_AFTER
        if _process_gone(run.runner) or silent:
            run.status = EvalRunStatus.FAILED
            run.error = f"stale: the process running it ({run.runner}) stopped without finishing"
            run.finished_at = now
            stale += 1
    # A run queued through the API that no worker took (Redis lost the job) is not waited for forever.
    queued = await session.scalars(
        sa.select(EvalRun).where(
            EvalRun.status == EvalRunStatus.QUEUED, EvalRun.created_at < now - QUEUED_FOR_TOO_LONG
        )
    )
    for run in queued.all():
        run.status = EvalRunStatus.FAILED
        run.error = "stale: no worker started it; queue it again"
        run.finished_at = now
        stale += 1
    await session.flush()
    return stale


@dataclass
class RunSpec:
    kind: str
    dataset_name: str
    dataset_hash: str | None
    split: str | None = None
    prompt_name: str | None = None
    prompt_version: str | None = None
    provider: str | None = None
    model: str | None = None
    embedding_model: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)


async def start_run(session: AsyncSession, spec: RunSpec, *, run_id: uuid.UUID | None = None) -> EvalRun:
    """A new run (or the queued one `run_id`), now running in this process."""
    run = await session.get(EvalRun, run_id) if run_id else None
    if run is None:
        run = EvalRun(id=run_id or uuid.uuid4())
        session.add(run)
    now = datetime.now(UTC)
    for name, value in vars(spec).items():
        setattr(run, name, value)
    run.status = EvalRunStatus.RUNNING
    run.git_commit = git_commit()
    run.runner = this_runner()
    run.started_at = run.heartbeat_at = now
    run.error = None
    await session.flush()
    return run


async def add_items(session: AsyncSession, run_id: uuid.UUID, items: Sequence[dict[str, Any]]) -> None:
    """Store finished questions and note that the run is alive."""
    if items:
        await session.execute(sa.insert(EvalItem), [{"run_id": run_id, **item} for item in items])
    await session.execute(
        sa.update(EvalRun)
        .where(EvalRun.id == run_id)
        .values(item_count=EvalRun.item_count + len(items), heartbeat_at=sa.func.now())
    )


async def finish_run(
    sessionmaker: async_sessionmaker[AsyncSession],
    run_id: uuid.UUID,
    *,
    status: EvalRunStatus,
    metrics: dict[str, Any] | None = None,
    timings: dict[str, Any] | None = None,
    error: str | None = None,
) -> None:
    """Record the outcome in a transaction of its own (the run's own may be the one that failed)."""
    values: dict[str, Any] = {"status": status, "finished_at": sa.func.now(), "heartbeat_at": sa.func.now()}
    if metrics is not None:
        values["metrics"] = metrics
    if timings is not None:
        values["timings"] = timings
    if error is not None:
        values["error"] = error[:ERROR_LIMIT]
    async with sessionmaker() as session, session.begin():
        await session.execute(sa.update(EvalRun).where(EvalRun.id == run_id).values(**values))


async def find_run(session: AsyncSession, reference: str) -> EvalRun | None:
    """A run by id, or by a unique prefix of its id (at least 6 characters), as `git` does for commits."""
    try:
        return await session.get(EvalRun, uuid.UUID(reference))
    except ValueError:
        pass
    if not re.fullmatch(r"[0-9a-fA-F-]{6,35}", reference):
        return None
    matches = (
        await session.scalars(
            sa.select(EvalRun).where(sa.cast(EvalRun.id, sa.String).startswith(reference.lower())).limit(2)
        )
    ).all()
    return matches[0] if len(matches) == 1 else None


async def run_items(session: AsyncSession, run_id: uuid.UUID) -> list[EvalItem]:
    return list(
        (
            await session.scalars(sa.select(EvalItem).where(EvalItem.run_id == run_id).order_by(EvalItem.id))
        ).all()
    )
