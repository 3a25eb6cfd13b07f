"""`python -m v1tr0 run` as a newcomer runs it (real processes, no DATABASE_URL / REDIS_URL): it starts
embedded PostgreSQL and Redis, migrates, serves; SIGTERM or Ctrl-C stops everything it started; a second
run reuses the data; a second supervisor on the same data dir is refused; `migrate` uses the running
servers."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import psutil
import pytest

from core.embedded import EmbeddedServices, free_port

ROOT = Path(__file__).resolve().parents[1]
START_DEADLINE = 60.0
STOP_DEADLINE = 30.0
USER = {"email": "newcomer@example.com", "password": "password123", "full_name": "New Comer"}


def base_env() -> dict[str, str]:
    """The caller's environment without any V1TR0_* setting or server URL."""
    dropped = ("DATABASE_URL", "REDIS_URL", "PORT")
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("V1TR0_") and name not in dropped
    }


class Stack:
    """One `python -m v1tr0 run` on a data dir, in its own process group (as a terminal would start it)."""

    def __init__(self, data_dir: Path, *, port: int, redis_port: int | None) -> None:
        self.data_dir = data_dir
        self.port = port
        self.redis_port = redis_port
        self.log_path = data_dir.parent / "supervisor.log"
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.start_deadline = START_DEADLINE

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self, **extra: str) -> dict[str, str]:
        redis = {"V1TR0_REDIS__EMBEDDED_PORT": str(self.redis_port)} if self.redis_port else {}
        return {
            **base_env(),
            "V1TR0_DATA_DIR": str(self.data_dir),
            "PORT": str(self.port),
            **redis,
            "V1TR0_EMBEDDING__PROVIDER": "static",
            **extra,
        }

    def start(self, *args: str) -> Stack:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "v1tr0", "run", *args],
            cwd=ROOT,
            env=self.env(),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-6000:]

    def wait_ready(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + self.start_deadline
        while True:
            assert self.process.poll() is None, f"`v1tr0 run` exited early:\n{self.log()}"
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"not ready within {self.start_deadline} s:\n{self.log()}"
            time.sleep(0.2)

    def started_processes(self) -> list[psutil.Process]:
        """What this run started: its descendants (API, worker, Redis), the postmaster and its children."""
        assert self.process is not None
        found = psutil.Process(self.process.pid).children(recursive=True)
        postmaster = int((self.data_dir / "pgdata" / "postmaster.pid").read_text().splitlines()[0])
        found += [psutil.Process(postmaster), *psutil.Process(postmaster).children(recursive=True)]
        return found

    def signal_and_wait(self, signum: int) -> int:
        """Send `signum` to the run's process group (Ctrl-C in a terminal does the same) and wait."""
        assert self.process is not None
        os.killpg(self.process.pid, signum)
        try:
            return self.process.wait(STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"`v1tr0 run` did not exit within {STOP_DEADLINE} s of signal {signum}:\n{self.log()}"
            )
        finally:
            if self._log is not None:
                self._log.close()

    def kill(self) -> None:
        """Last-resort clean-up after a failed test: the run, then any server it left."""
        if self._log is not None:
            self._log.close()
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        if self.leftovers():
            EmbeddedServices(self.data_dir).stop()
            for process in self.leftovers():
                with contextlib.suppress(psutil.NoSuchProcess):
                    process.kill()

    def leftovers(self) -> list[psutil.Process]:
        """Running postgres, redis-server, uvicorn or `v1tr0 worker` processes tied to this run's data dir
        or ports (by command line, or by the V1TR0_DATA_DIR the API and worker inherit)."""
        markers = (str(self.data_dir), *([f"127.0.0.1:{self.redis_port}"] if self.redis_port else []))
        found = []
        for process in psutil.process_iter(["cmdline", "status"]):
            if process.info["status"] == psutil.STATUS_ZOMBIE or process.pid == os.getpid():
                continue
            args = process.info["cmdline"] or []
            command = " ".join(args)
            if any(marker in command for marker in markers) or ("--port" in args and str(self.port) in args):
                found.append(process)
                continue
            try:
                if process.environ().get("V1TR0_DATA_DIR") == str(self.data_dir):
                    found.append(process)
            except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
                pass
        return found


def kind(process: psutil.Process) -> str:
    args = process.info["cmdline"] or [""]
    if args[0].endswith("/postgres"):
        return "postgres"
    if "redis-server" in args[0]:
        return "redis-server"
    if "uvicorn" in args or "api.serve" in args:  # one API process, or one of several (api/serve.py)
        return "uvicorn"
    if args[-2:] == ["v1tr0", "worker"]:
        return "v1tr0 worker"
    return " ".join(args)


def assert_nothing_left(stack: Stack, started: list[psutil.Process]) -> None:
    # pg_ctl -w and the Redis shutdown have returned by now; give exiting processes a moment to be reaped.
    _, alive = psutil.wait_procs(started, timeout=10)
    alive = [process for process in alive if process.status() != psutil.STATUS_ZOMBIE]
    assert alive == [], f"still running: {[process.cmdline() for process in alive]}\n{stack.log()}"
    left = stack.leftovers()
    assert left == [], f"still running: {[process.info['cmdline'] for process in left]}\n{stack.log()}"
    assert not (stack.data_dir / "pgdata" / "postmaster.pid").exists()


@pytest.fixture(scope="module")
def stack() -> Iterator[Stack]:
    """A running `v1tr0 run` on a fresh data dir (short path: PostgreSQL's socket lives in it)."""
    workdir = Path(tempfile.mkdtemp(prefix="v1tr0-run-"))
    running = Stack(workdir / "data", port=free_port(), redis_port=free_port()).start()
    try:
        running.wait_ready()
        yield running
    finally:
        running.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def v1tr0(stack: Stack, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "v1tr0", *args],
        cwd=ROOT,
        env=stack.env(**env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def stderr_of(process: subprocess.Popen[str]) -> str:
    try:
        _, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        _, err = process.communicate()
        pytest.fail(f"{process.args} did not finish within 60 s:\n{err}")
    return err


def test_a_second_supervisor_is_refused_and_migrate_uses_the_running_servers(stack: Stack) -> None:
    second = v1tr0(stack, "run", PORT=str(free_port()))
    migrate = v1tr0(stack, "migrate")
    second_err, migrate_err = stderr_of(second), stderr_of(migrate)

    assert second.returncode != 0
    assert "in use" in second_err, second_err
    assert str(stack.data_dir) in second_err
    assert "Traceback" not in second_err
    assert migrate.returncode == 0, migrate_err
    assert "migrations applied" in migrate_err
    # Neither stopped the servers of the running stack.
    assert httpx.get(f"{stack.url}/health/ready", timeout=5).status_code == 200


def readme_walkthrough() -> str:
    """The README's shell walk-through, as a newcomer would paste it."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)```", readme, flags=re.DOTALL)
    return next(block for block in blocks if "auth/register" in block and "ai/ask" in block)


def test_the_readme_walkthrough_answers_with_a_citation(stack: Stack) -> None:
    script = readme_walkthrough().replace("localhost:8000", f"127.0.0.1:{stack.port}")
    done = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr}"
    ask = next(json.loads(line) for line in done.stdout.splitlines() if line.startswith('{"answer"'))
    assert "Ana enviará el presupuesto el viernes" in ask["answer"]
    assert "[1]" in ask["answer"] and ask["citations"][0]["n"] == 1
    assert ask["citations"][0]["title"] == "Acta"
    assert ask["grounded"] is True and ask["index_pending"] == 0
    events = re.findall(r"^event: (\w+)", done.stdout, flags=re.MULTILINE)
    assert events[0] == "start" and "delta" in events and events[-1] == "done", done.stdout
    assert "presupuesto" in done.stdout.split("event: start", 1)[1]


def test_two_data_dirs_run_side_by_side_each_with_its_own_redis(stack: Stack) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="v1tr0-run2-"))
    second = Stack(workdir / "data", port=free_port(), redis_port=None).start()
    try:
        second.wait_ready()
        recorded = json.loads((second.data_dir / "services.json").read_text())["redis_url"]
        assert recorded != f"redis://127.0.0.1:{stack.redis_port}/0"
        for running in (stack, second):
            assert httpx.get(f"{running.url}/health/ready", timeout=5).status_code == 200
        started = second.started_processes()
        assert second.signal_and_wait(signal.SIGTERM) == 0, second.log()
        assert_nothing_left(second, started)
        assert httpx.get(f"{stack.url}/health/ready", timeout=5).status_code == 200
    finally:
        second.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def test_several_api_processes_share_the_port_and_its_connections(stack: Stack) -> None:
    """`--workers 2` on Linux: two API processes, each with its own SO_REUSEPORT socket (api/serve.py), so
    a burst of keep-alive connections is spread over both (uvicorn's --workers left them on one)."""
    workdir = Path(tempfile.mkdtemp(prefix="v1tr0-run3-"))
    second = Stack(workdir / "data", port=free_port(), redis_port=None).start("--workers", "2")
    try:
        second.wait_ready()
        started = second.started_processes()
        api = [p for p in started if "api.serve" in p.cmdline()]
        assert len(api) == 2, [p.cmdline() for p in started]
        # Ready means one of them answers; the kernel spreads connections only over the sockets that listen
        # already, so wait for both (a run found 16 connections on one and 0 on the other).
        deadline = time.monotonic() + 30
        while not all(
            any(
                c.status == psutil.CONN_LISTEN and c.laddr.port == second.port
                for c in p.net_connections("tcp")
            )
            for p in api
        ):
            assert time.monotonic() < deadline, "the two API processes did not both listen within 30 s"
            time.sleep(0.05)
        clients = [httpx.Client(base_url=second.url, timeout=10) for _ in range(16)]
        try:
            for client in clients:  # each opens its connection and keeps it
                assert client.get("/health/live").status_code == 200
            held = {
                p.pid: sum(
                    c.status == psutil.CONN_ESTABLISHED and c.laddr.port == second.port
                    for c in p.net_connections(kind="tcp")
                )
                for p in api
            }
        finally:
            for client in clients:
                client.close()
        assert sum(held.values()) == 16 and all(held.values()), held
        # Another stack's API on the same port is refused, not let in beside it.
        intruder = v1tr0(stack, "serve", "--workers", "2", "--no-migrate", PORT=str(second.port))
        err = stderr_of(intruder)
        assert intruder.returncode != 0 and "in use" in err, err
        assert second.signal_and_wait(signal.SIGTERM) == 0, second.log()
        assert_nothing_left(second, started)
    finally:
        second.kill()
        shutil.rmtree(workdir, ignore_errors=True)


def test_signals_stop_everything_and_a_second_run_reuses_the_data(stack: Stack) -> None:
    r = httpx.post(f"{stack.url}/api/v1/auth/register", json=USER, timeout=10)
    assert r.status_code == 201, r.text
    started = stack.started_processes()
    # The check below can fail: while the stack runs, it finds each of its servers.
    assert {"postgres", "redis-server", "uvicorn", "v1tr0 worker"} <= {kind(p) for p in stack.leftovers()}

    assert stack.signal_and_wait(signal.SIGTERM) == 0, stack.log()
    assert_nothing_left(stack, started)

    stack.start().wait_ready()
    login = {"email": USER["email"], "password": USER["password"]}
    r = httpx.post(f"{stack.url}/api/v1/auth/login", json=login, timeout=10)
    assert r.status_code == 200, r.text
    started = stack.started_processes()

    assert stack.signal_and_wait(signal.SIGINT) == 0, stack.log()
    assert_nothing_left(stack, started)
