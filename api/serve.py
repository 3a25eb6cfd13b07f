"""One API process of several sharing a port (`v1tr0 run|serve --workers N`, on Linux).

Under uvicorn's own `--workers`, the processes share one listening socket, and the one that wakes first
accepts a whole burst of new connections (asyncio accepts up to the backlog per wake-up). Keep-alive
clients then stay with it: in `bench/load.py` one worker served all 32 connections (25.8 CPU-seconds) while
the other idled (0.1), and the stack reached 450 requests/s instead of 650. Here every process binds its
own socket with SO_REUSEPORT, and the kernel spreads new connections across them.

    python -m api.serve --host 127.0.0.1 --port 8000
"""

from __future__ import annotations

import argparse
import socket

import uvicorn

GRACEFUL_SHUTDOWN_SECONDS = 10  # as `uvicorn --timeout-graceful-shutdown` in v1tr0.supervisor


def address_family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def reuse_port_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to (host, port) that sibling processes may bind too (SO_REUSEPORT)."""
    sock = socket.socket(address_family(host), socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    args = parser.parse_args(argv)
    config = uvicorn.Config(
        "api.app:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        access_log=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
    )
    # asyncio's create_server listens on the socket (with uvicorn's backlog).
    uvicorn.Server(config).run(sockets=[reuse_port_socket(args.host, args.port)])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
