"""Conversions in child processes, so that one hostile file cannot hang or exhaust the API process.

Each child converts one file at a time under an address-space limit; a conversion that outlives the
timeout kills its child (a thread could not be stopped) and a fresh one takes its place. Children are
started on first use and import the converters once, so a conversion pays neither start-up nor imports.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import multiprocessing.connection
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

from core.errors import DomainError, Invalid, PayloadTooLarge, UnsupportedMediaType
from ingestion.convert import ConvertedDocument, Kind, Limits, convert
from ingestion.convert.sniff import decide_kind

log = logging.getLogger("v1tr0.convert")
IN_PROCESS = frozenset({Kind.TEXT, Kind.MARKDOWN, Kind.CSV})
REFUSALS: dict[str, type[DomainError]] = {
    cls.__name__: cls for cls in (Invalid, PayloadTooLarge, UnsupportedMediaType)
}


@dataclass(frozen=True)
class Refusal:
    """A domain error crossing the process boundary (exceptions with keyword arguments do not pickle)."""

    error: str
    message: str
    code: str
    details: Any

    def raise_it(self) -> None:
        raise REFUSALS[self.error](self.message, code=self.code, details=self.details)


def _serve(connection: multiprocessing.connection.Connection, memory_bytes: int) -> None:
    """The child: convert whatever arrives until the pipe closes."""
    import resource
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the API, which stops us
    resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    from ingestion.convert import office, pdf  # noqa: F401  (import the converters once, up front)

    while True:
        try:
            data, filename, declared_type, limits = connection.recv()
        except (EOFError, OSError):
            return
        try:
            result: ConvertedDocument | Refusal = convert(
                data, filename=filename, declared_type=declared_type, limits=limits
            )
        except DomainError as exc:
            name = type(exc).__name__ if type(exc).__name__ in REFUSALS else "Invalid"
            result = Refusal(name, exc.message, exc.code, exc.details)
        except MemoryError:
            result = Refusal(
                "PayloadTooLarge", "the document needs too much memory to convert", "conversion_memory", None
            )
        except Exception:
            log.warning("conversion failed", exc_info=True)
            result = Refusal("Invalid", "the file is damaged and cannot be converted", "corrupt_file", None)
        del data
        connection.send(result)


class _Child:
    def __init__(self, memory_bytes: int) -> None:
        context = multiprocessing.get_context("spawn")  # never fork a process running threads and a loop
        self.connection, child_end = context.Pipe()
        self.process: BaseProcess = context.Process(
            target=_serve, args=(child_end, memory_bytes), name="v1tr0-convert", daemon=True
        )
        self.process.start()
        child_end.close()

    def stop(self) -> None:
        with contextlib.suppress(OSError):
            self.connection.close()
        if self.process.is_alive():
            self.process.kill()
        self.process.join(timeout=5)


class ConverterPool:
    def __init__(self, *, workers: int, timeout: float, memory_bytes: int) -> None:
        self.timeout = timeout
        self.memory_bytes = memory_bytes
        self._idle: list[_Child] = []
        self._slots = asyncio.Semaphore(workers)
        self._closed = False

    async def convert(
        self, data: bytes, *, filename: str | None, declared_type: str | None, limits: Limits
    ) -> ConvertedDocument:
        """Convert in a child process; plain text, Markdown and CSV (linear, nothing to hang on) here."""
        if data and decide_kind(data, filename=filename, declared_type=declared_type) in IN_PROCESS:
            return convert(data, filename=filename, declared_type=declared_type, limits=limits)
        async with self._slots:
            child = self._idle.pop() if self._idle else await asyncio.to_thread(_Child, self.memory_bytes)
            try:
                result = await asyncio.to_thread(self._run, child, (data, filename, declared_type, limits))
            except BaseException:
                await asyncio.to_thread(child.stop)
                raise
            if self._closed:
                await asyncio.to_thread(child.stop)
            else:
                self._idle.append(child)
        if isinstance(result, Refusal):
            result.raise_it()
        assert isinstance(result, ConvertedDocument)
        return result

    def _run(self, child: _Child, job: tuple[Any, ...]) -> ConvertedDocument | Refusal:
        try:
            child.connection.send(job)
            ready = child.connection.poll(self.timeout)
            if ready:
                result: ConvertedDocument | Refusal = child.connection.recv()
                return result
        except (EOFError, OSError, BrokenPipeError):
            raise Invalid(
                "the document could not be converted: the converter ran out of memory or crashed on it",
                code="conversion_failed",
            ) from None
        raise Invalid(
            f"converting the document took longer than {self.timeout:g} s; it was stopped",
            code="conversion_timeout",
        )

    async def close(self) -> None:
        self._closed = True
        children, self._idle = self._idle, []
        for child in children:
            await asyncio.to_thread(child.stop)
