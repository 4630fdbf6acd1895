"""The production server: uvicorn with uvloop and httptools, N worker processes, TCP_NODELAY.

`featurecast serve --workers N` (default: one per core). Each worker builds the app from the factory
(`app.main:create_app`, settings from the environment) and follows the serving snapshot on its own, so a
publish reaches every worker within `check_interval` seconds.

We bind the listening socket ourselves, as a TCP socket with `proto = IPPROTO_TCP`: accepted
connections inherit it, and the event loop turns Nagle's algorithm off (TCP_NODELAY) only for sockets
that report TCP. uvicorn's own multi-worker path binds with `proto = 0`, so every keep-alive response
waited ~40 ms for the client's delayed ACK (Kludex/uvicorn#3149, open when this was written).
"""

from __future__ import annotations

import os
import signal
import socket

import uvicorn
from uvicorn.supervisors import Multiprocess

from featurecast import interrupts
from featurecast.api.http_guard import GuardedProtocol

APP_FACTORY = "featurecast.api.main:create_app"


def tcp_listener(host: str, port: int) -> socket.socket:
    """A listening socket whose accepted connections are TCP to the event loop (so they get TCP_NODELAY)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def default_workers() -> int:
    return max(os.cpu_count() or 1, 1)


def server_config(host: str, port: int, workers: int) -> uvicorn.Config:
    return uvicorn.Config(
        APP_FACTORY,
        factory=True,
        host=host,
        port=port,
        workers=workers,
        loop="uvloop",
        http=GuardedProtocol,  # httptools with a head deadline and an admission gate (featurecast/api/http_guard.py)
        timeout_keep_alive=5,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )


class _Supervisor(Multiprocess):
    """uvicorn's supervisor, telling featurecast.interrupts which signal stopped it (it owns the handlers
    while it runs and returns normally after stopping its workers, so the command could not tell)."""

    def handle_int(self) -> None:
        interrupts.note(signal.SIGINT)
        super().handle_int()

    def handle_term(self) -> None:
        interrupts.note(signal.SIGTERM)
        super().handle_term()


def serve(host: str, port: int, workers: int) -> None:
    """Serve the API until interrupted (SIGINT/SIGTERM stop every worker; the command then exits 130).
    One worker: uvicorn's server raises the signal it captured again once it has stopped."""
    config = server_config(host, port, workers)
    sock = tcp_listener(host, port)
    try:
        if workers == 1:
            uvicorn.Server(config).run(sockets=[sock])
        else:
            _Supervisor(config, sockets=[sock]).run()
    finally:
        sock.close()
