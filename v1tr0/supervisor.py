"""Starts what the configuration lacks (embedded PostgreSQL and Redis), then the API and a worker as child
processes, and stops all of it on Ctrl-C or SIGTERM, leaving no server behind."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType

from api.serve import GRACEFUL_SHUTDOWN_SECONDS, address_family
from core.embedded import EmbeddedServices
from core.logs import configure_logging
from core.migrate import upgrade
from core.settings import Settings

log = logging.getLogger("v1tr0.supervisor")


@contextlib.contextmanager
def services(settings: Settings, *, reuse_running: bool = True) -> Iterator[Settings]:
    """Yield settings with database and Redis URLs, starting embedded servers for whichever is unset.

    When another supervisor (e.g. `make run`) already runs the embedded servers on this data dir, they
    are used as they are and left running; without `reuse_running`, that is DataDirBusy instead."""
    if settings.database_url and settings.redis_url:
        yield settings
        return
    embedded = EmbeddedServices(settings.data_dir, redis_port=settings.redis.embedded_port)
    running = embedded.running_urls() if reuse_running else None
    if running is not None:
        database_url, redis_url = running
        yield settings.model_copy(
            update={
                "database_url": settings.database_url or database_url,
                "redis_url": settings.redis_url or redis_url,
            }
        )
        return
    embedded.start()
    try:
        yield settings.model_copy(
            update={
                "database_url": settings.database_url or embedded.database_url,
                "redis_url": settings.redis_url or embedded.redis_url,
            }
        )
    finally:
        embedded.stop()


def with_services(settings: Settings, func: Callable[[Settings], int]) -> int:
    configure_logging(settings.log.level, json_format=settings.log.json_format)
    with _stop_on_sigterm(), services(settings) as ready:
        _export(ready)
        return func(ready)


def _export(settings: Settings) -> None:
    """Children (and code that reads settings afresh) see the URLs that are actually in use."""
    assert settings.database_url and settings.redis_url
    os.environ["DATABASE_URL"] = settings.database_url
    os.environ["REDIS_URL"] = settings.redis_url
    from core.settings import get_settings

    get_settings.cache_clear()


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into an exception so that `finally` blocks (server shutdown) run."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_stack(
    settings: Settings,
    *,
    with_worker: bool,
    workers: int | None = None,
    migrate: bool = True,
    reuse_running: bool = False,
) -> int:
    """Serve until Ctrl-C or SIGTERM. A data dir that another supervisor runs is refused (DataDirBusy)
    unless `reuse_running`: a second whole stack would clash on its port and double the workers."""
    configure_logging(settings.log.level, json_format=settings.log.json_format)
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    old_int = signal.signal(signal.SIGINT, request_stop)
    old_term = signal.signal(signal.SIGTERM, request_stop)
    code = 0
    try:
        with services(settings, reuse_running=reuse_running) as ready:
            _export(ready)
            assert ready.database_url
            if migrate:
                upgrade(ready.database_url)
                log.info("database migrated")
            local_llm = start_local_model(ready)
            if local_llm is not None:
                children.append(local_llm)
            env = dict(os.environ)
            if with_worker:
                children.append(_spawn([sys.executable, "-m", "v1tr0", "worker"], env))
            api_workers = workers or ready.web_concurrency
            api_env = dict(env)
            if api_workers > 1:
                api_env["PROMETHEUS_MULTIPROC_DIR"] = str(fresh_metrics_dir(ready))
            try:
                children.extend(api_processes(ready.host, ready.port, api_workers, api_env))
            except PortInUse as exc:
                log.error("the API cannot start", extra={"error": str(exc)})
                code, stopping = 1, True
            if not stopping:
                log.info("serving", extra={"url": f"http://{ready.host}:{ready.port}", "docs": "/docs"})
            while not stopping:
                exited = [child for child in children if child.poll() is not None]
                if exited:
                    code = exited[0].returncode or 1
                    log.error("a child process exited; stopping", extra={"command": str(exited[0].args)})
                    break
                time.sleep(0.2)
            _stop_children(children)
    finally:
        _stop_children(children)
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)
    return code


def api_processes(host: str, port: int, workers: int, env: dict[str, str]) -> list[subprocess.Popen[bytes]]:
    """The API: one uvicorn process, or `workers` processes each with its own SO_REUSEPORT socket on the
    port (api/serve.py: the kernel spreads connections across them; uvicorn's --workers leaves a burst of
    keep-alive connections on one process). Where SO_REUSEPORT does not balance (not Linux), uvicorn's."""
    if workers > 1 and sys.platform == "linux":
        ensure_port_free(host, port)  # reuse-port sockets would share it with another stack silently
        command = [sys.executable, "-m", "api.serve", "--host", host, "--port", str(port)]
        return [_spawn(command, env) for _ in range(workers)]
    command = [
        *[sys.executable, "-m", "uvicorn", "api.app:create_app", "--factory"],
        *["--host", host, "--port", str(port), "--workers", str(workers)],
        *["--no-access-log", "--timeout-graceful-shutdown", str(GRACEFUL_SHUTDOWN_SECONDS)],
    ]
    return [_spawn(command, env)]


class PortInUse(RuntimeError):
    pass


def ensure_port_free(host: str, port: int) -> None:
    """Fail like a plain bind would when something already listens on (host, port)."""
    with socket.socket(address_family(host), socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUse(f"{host}:{port} is in use ({exc.strerror}): set PORT to another port") from exc


def start_local_model(settings: Settings) -> subprocess.Popen[bytes] | None:
    """Start the local chat model's llama.cpp server when it is enabled and no URL is configured, and hand
    its URL to the children. A model that cannot start leaves the app on its offline path."""
    if not settings.llm.enabled or settings.llm.base_url:
        return None
    from core.providers.local_llm import ModelUnavailable, start_server

    log.info("starting the local chat model", extra={"model": settings.llm.model})
    started = time.monotonic()
    try:
        process, base_url = start_server(settings)
    except ModelUnavailable as exc:
        log.error("the local chat model is not available; continuing without it", extra={"error": str(exc)})
        return None
    os.environ["V1TR0_LLM__BASE_URL"] = base_url
    log.info(
        "local chat model ready",
        extra={"url": base_url, "seconds": round(time.monotonic() - started, 1)},
    )
    return process


def fresh_metrics_dir(settings: Settings) -> Path:
    """An empty PROMETHEUS_MULTIPROC_DIR for the API processes: files left by an earlier run would add
    their old counts to the new ones."""
    path = (settings.data_dir / "prometheus").resolve()
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def _spawn(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    # Own process group: a Ctrl-C reaches the supervisor, which then stops the children in order.
    return subprocess.Popen(args, env=env, start_new_session=True)  # noqa: S603


def _stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    for child in children:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in children:
        remaining = max(deadline - time.monotonic(), 0.1)
        try:
            child.wait(remaining)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
