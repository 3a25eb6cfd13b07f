"""Fault tests run against real processes: a private embedded PostgreSQL + Redis (so that stopping them
does not disturb the rest of the suite), the API served by uvicorn and the worker, each a subprocess.

Every wait is a bounded polling loop that fails with the process's log."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import httpx
import psycopg
import pytest

from core.db import libpq_url
from core.embedded import EmbeddedServices, free_port
from core.migrate import upgrade
from tests.conftest import TEST_SECRET

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 60.0


def eventually(condition: Callable[[], bool], what: str, *, log: Callable[[], str] = str) -> None:
    """Poll `condition` until it holds; fail (with a log) after DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{log()}"
        time.sleep(0.05)


class PrivateServices:
    """Embedded PostgreSQL + Redis on a temp dir and a free port, which a test may stop and start."""

    def __init__(self, data_dir: Path) -> None:
        self.embedded = EmbeddedServices(data_dir, redis_port=free_port())
        self.data_dir = data_dir

    def start(self) -> PrivateServices:
        self.embedded.start()
        upgrade(self.database_url)
        return self

    @property
    def database_url(self) -> str:
        return self.embedded.database_url

    @property
    def redis_url(self) -> str:
        return self.embedded.redis_url

    def stop_postgres(self) -> None:
        self.embedded.stop_postgres()

    def start_postgres(self) -> None:
        self.embedded._pg.ensure_postgres_running()

    def stop_redis(self) -> None:
        self.embedded.stop_redis()

    def start_redis(self) -> None:
        self.embedded._start_redis()

    def query(self, sql: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with psycopg.connect(libpq_url(self.database_url), autocommit=True) as conn:
            return conn.execute(sql, params or {}).fetchall()  # type: ignore[arg-type]

    def stop(self) -> None:
        self.embedded.stop()


@pytest.fixture(scope="package")
def private_services() -> Iterator[PrivateServices]:
    # A short path: PostgreSQL's socket lives in the data dir.
    workdir = Path(tempfile.mkdtemp(prefix="v1tr0-faults-"))
    services = PrivateServices(workdir / "data")
    try:
        services.start()
        yield services
    finally:
        services.stop()
        shutil.rmtree(workdir, ignore_errors=True)


class Process:
    """A `python -m ...` subprocess against the private services, logging to a file."""

    def __init__(self, args: list[str], env: dict[str, str], log_path: Path) -> None:
        self.args = args
        self.env = env
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> Process:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", *self.args],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:] if self.log_path.exists() else ""

    def signal(self, signum: int) -> None:
        assert self.process is not None
        os.kill(self.process.pid, signum)

    def wait(self, timeout: float = 30) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.alive():
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._log is not None:
            self._log.close()
            self._log = None


def service_env(services: PrivateServices, data_dir: Path, **extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("V1TR0_")}
    env.update(
        {
            "DATABASE_URL": services.database_url,
            "REDIS_URL": services.redis_url,
            "V1TR0_ENVIRONMENT": "test",
            "V1TR0_DATA_DIR": str(data_dir),
            "V1TR0_AUTH__SECRET_KEY": TEST_SECRET,
            "V1TR0_EMBEDDING__PROVIDER": "static",
            "V1TR0_LOG__LEVEL": "WARNING",
            "V1TR0_INGESTION__DISPATCH_INTERVAL": "0.2",
            "V1TR0_INGESTION__REQUEUE_AFTER": "1",
            "V1TR0_DB__POOL_TIMEOUT": "3",
            **extra,
        }
    )
    env.pop("OPENAI_API_KEY", None)
    env.pop("OPENAI_BASE_URL", None)
    return env


class Api:
    """`uvicorn api.app:create_app --factory` as the supervisor starts it, plus a small HTTP client."""

    def __init__(self, services: PrivateServices, tmp_path: Path, **env: str) -> None:
        self.port = free_port()
        self.process = Process(
            [
                "uvicorn",
                "api.app:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
                "--timeout-graceful-shutdown",
                "5",
            ],
            service_env(services, tmp_path, **env),
            tmp_path / f"api-{self.port}.log",
        )
        self.http = httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=15)

    def start(self) -> Api:
        self.process.start()

        def live() -> bool:
            assert self.process.alive(), f"uvicorn exited:\n{self.process.log()}"
            try:
                return self.http.get("/health/live").status_code == 200
            except httpx.TransportError:
                return False

        eventually(live, "the API to serve", log=self.process.log)
        return self

    def stop(self) -> None:
        self.http.close()
        self.process.stop()

    def user(self) -> dict[str, str]:
        """A new registered user's bearer header (login goes through the real route)."""
        email = f"fault-{uuid.uuid4().hex[:8]}@example.com"
        password = "password-1234"
        r = self.http.post(
            "/api/v1/auth/register", json={"email": email, "password": password, "full_name": "Fault Tester"}
        )
        assert r.status_code == 201, r.text
        r = self.http.post("/api/v1/auth/login", json={"email": email, "password": password})
        assert r.status_code == 200, r.text
        return {"Authorization": f"Bearer {r.json()['access_token']}"}


def worker(services: PrivateServices, tmp_path: Path) -> Process:
    return Process(["v1tr0", "worker"], service_env(services, tmp_path), tmp_path / "worker.log")


def assert_error_shape(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body["error"]) == {"code", "message", "details"}, body
    assert "Traceback" not in response.text
    assert "psycopg" not in response.text and "redis" not in response.text.lower()
    return body  # type: ignore[no-any-return]
