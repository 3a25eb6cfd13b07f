"""A real `python -m v1tr0 worker` process: it indexes what the API writes and reports a heartbeat; when it
is killed (SIGKILL) in the middle of a job, a new worker finishes the job: chunks complete, none twice."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO

import psycopg.errors
import sqlalchemy as sa

from core.keys import WORKER_HEARTBEAT
from core.models import Outbox, OutboxStatus, SourceType
from core.providers.embeddings import STATIC_MODEL
from ingestion.artifacts import load_artifact
from tests.ingestion.helpers import chunk_rows, numbered_document

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 60.0


class WorkerProcess:
    """`python -m v1tr0 worker` against the test database and Redis, logging to a file."""

    def __init__(self, servers, log_path: Path, **env: str) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": servers.database_url,
            "REDIS_URL": servers.redis_url,
            "V1TR0_ENVIRONMENT": "test",
            "V1TR0_EMBEDDING__PROVIDER": "static",
            "V1TR0_INGESTION__REQUEUE_AFTER": "1",
            "V1TR0_INGESTION__DISPATCH_INTERVAL": "0.2",
            "V1TR0_LOG__LEVEL": "WARNING",
            **env,
        }
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> WorkerProcess:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "v1tr0", "worker"],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    def kill(self) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._log is not None:
            self._log.close()

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:]


async def eventually(condition: Callable[[], Awaitable[bool]], what: str, worker: WorkerProcess) -> None:
    """Poll `condition` until it holds, failing (with the worker's log) after DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while not await condition():
        assert worker.alive(), f"the worker exited while waiting for {what}:\n{worker.log()}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{worker.log()}"
        await asyncio.sleep(0.02)


async def outbox_row(resources, source_id: str) -> Outbox:
    async with resources.sessionmaker() as session:
        row = await session.scalar(sa.select(Outbox).where(Outbox.source_id == uuid.UUID(source_id)))
        assert row is not None
        return row


async def job_in_progress(resources, outbox_id: int) -> bool:
    """True while a worker's job holds the row: the row is locked (its transaction is open) and a job's
    per-artifact advisory lock is held (the dispatcher's sweep also locks rows, briefly, but takes none)."""
    async with resources.engine.connect() as conn:
        try:
            await conn.execute(
                sa.text("SELECT id FROM outbox WHERE id = :id FOR UPDATE NOWAIT"), {"id": outbox_id}
            )
        except sa.exc.OperationalError as exc:
            if not isinstance(exc.orig, psycopg.errors.LockNotAvailable):
                raise
            await conn.rollback()
            advisory = await conn.scalar(
                sa.text("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted")
            )
            return bool(advisory)
        finally:
            await conn.rollback()
    return False


async def expected_contents(resources, settings, document_id: str) -> list[str]:
    async with resources.sessionmaker() as session:
        artifact = await load_artifact(
            session, SourceType.DOCUMENT, uuid.UUID(document_id), settings.ingestion
        )
    assert artifact is not None
    return [draft.content for draft in artifact.drafts]


async def test_a_killed_worker_s_job_is_finished_by_the_next_worker(
    servers, client, factory, settings, resources, redis_client, tmp_path
):
    owner = await factory.user()
    r = await client.post("/api/v1/projects", json={"title": "Web Acme"}, headers=owner.headers)
    project_id = r.json()["id"]
    r = await client.post(
        f"/api/v1/projects/{project_id}/documents",
        json={"title": "Acta", "content": "# Alcance\n\nTres secciones.\n\n# Plazos\n\nEl viernes."},
        headers=owner.headers,
    )
    small = r.json()["id"]
    first = WorkerProcess(servers, tmp_path / "worker-1.log")
    second = WorkerProcess(servers, tmp_path / "worker-2.log")
    try:
        first.start()

        # Written through the API, indexed by the worker process.
        small_expected = await expected_contents(resources, settings, small)

        async def small_indexed() -> bool:
            return len(await chunk_rows(resources, source_id=uuid.UUID(small))) == len(small_expected)

        await eventually(small_indexed, "the document to be indexed", first)
        chunks = await chunk_rows(resources, source_id=uuid.UUID(small))
        assert [c.content for c in chunks] == small_expected
        assert {c.embedding_model for c in chunks} == {STATIC_MODEL}

        async def heartbeat() -> bool:
            return await redis_client.get(WORKER_HEARTBEAT) is not None

        await eventually(heartbeat, "the worker heartbeat", first)
        r = await client.get("/health/ready")
        assert r.status_code == 200
        assert r.json()["checks"]["worker"]["status"] == "up"

        # A large document: kill -9 the worker while its job holds the outbox row.
        text, _ = numbered_document(1024 * 1024)
        r = await client.post(
            f"/api/v1/projects/{project_id}/documents",
            json={"title": "Grande", "content": text},
            headers=owner.headers,
        )
        assert r.status_code == 201
        large = r.json()["id"]
        row = await outbox_row(resources, large)

        async def in_progress() -> bool:
            return await job_in_progress(resources, row.id)

        await eventually(in_progress, "the large document's job to start", first)
        first.kill()

        row = await outbox_row(resources, large)
        assert row.status == OutboxStatus.PENDING  # killed before it could finish
        assert await chunk_rows(resources, source_id=uuid.UUID(large)) == []

        # A new worker: the sweep enqueues the unfinished row again and the job runs to the end.
        second.start()

        async def large_done() -> bool:
            return (await outbox_row(resources, large)).status == OutboxStatus.DONE

        await eventually(large_done, "the large document's job to finish", second)
        expected = await expected_contents(resources, settings, large)
        chunks = await chunk_rows(resources, source_id=uuid.UUID(large))
        assert len(chunks) == len(expected) > 500
        assert [c.chunk_index for c in chunks] == list(range(len(expected)))
        assert [c.content for c in chunks] == expected
        assert (await outbox_row(resources, large)).dispatches >= 1
        assert (await outbox_row(resources, small)).status == OutboxStatus.DONE
        r = await client.get("/health/ready")
        assert r.json()["checks"]["worker"]["status"] == "up"
    finally:
        first.stop()
        second.stop()
