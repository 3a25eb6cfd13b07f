"""core.embedded waits for its Redis to answer, not only for its port: a Redis that loads its append-only
file has the port open and refuses every command with LOADING (a restart of `make run` with a large
file, or an eval started right after another, failed on its first command with BusyLoadingError)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from core import embedded


@pytest.fixture
def loading_redis() -> Iterator[tuple[int, list[bytes]]]:
    """A stand-in server that answers PING with LOADING three times, then with PONG."""
    server = socket.create_server(("127.0.0.1", 0))
    port = server.getsockname()[1]
    answers: list[bytes] = []

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                conn.recv(64)
                reply = (
                    b"-LOADING Redis is loading the dataset in memory\r\n"
                    if len(answers) < 3
                    else b"+PONG\r\n"
                )
                answers.append(reply)
                conn.sendall(reply)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield port, answers
    server.shutdown(socket.SHUT_RDWR)  # wakes the accept() blocked in the thread
    server.close()
    thread.join(5)


def test_a_loading_redis_is_waited_for_until_it_answers(loading_redis: tuple[int, list[bytes]]) -> None:
    port, answers = loading_redis
    assert embedded._port_open(port)
    assert not embedded._redis_serving(port)  # the port is open, the server is not serving yet
    embedded._wait_redis_serving(port, timeout=10)
    assert answers[-1] == b"+PONG\r\n" and len(answers) == 4


def test_nothing_listening_is_not_serving_and_the_wait_gives_up() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    assert not embedded._redis_serving(port)
    with pytest.raises(RuntimeError, match="did not answer PING"):
        embedded._wait_redis_serving(port, timeout=0.2)
