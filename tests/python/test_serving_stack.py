"""`featurecast serve`: the production stack (uvloop, httptools, N workers, TCP_NODELAY) follows snapshots."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import uvloop

from featurecast.api.server import tcp_listener
from flows.publish import publish_snapshot


async def _nodelay_of_accepted(listener: socket.socket) -> int:
    seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            seen.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await asyncio.get_running_loop().create_server(Probe, sock=listener)
    port = listener.getsockname()[1]
    _, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        return await asyncio.wait_for(seen, 5)
    finally:
        writer.close()
        server.close()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_connections_accepted_on_our_listener_get_tcp_nodelay(loop) -> None:
    run = uvloop.run if loop == "uvloop" else asyncio.run
    assert run(_nodelay_of_accepted(tcp_listener("127.0.0.1", 0))) == 1


def test_a_listener_bound_like_uvicorns_workers_path_does_not() -> None:
    """Why featurecast/api/server.py binds its own socket: proto 0 leaves Nagle on under asyncio
    (Kludex/uvicorn#3149)."""
    plain = socket.socket(socket.AF_INET)
    plain.bind(("127.0.0.1", 0))
    assert asyncio.run(_nodelay_of_accepted(plain)) == 0


@pytest.mark.dbt
def test_every_worker_follows_a_new_snapshot_and_sigterm_stops_them_all(served_stack, tmp_path, unused_port) -> None:
    data = tmp_path / "data"
    shutil.copytree(served_stack.data_dir, data, ignore=shutil.ignore_patterns("dbt_*", "models"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEATURECAST_", "MONGODB_URI"))}
    env |= {"FEATURECAST_DATA_DIR": str(data)}
    server = subprocess.Popen(
        [str(Path(sys.executable).parent / "featurecast"), "serve", "--workers", "2", "--port", str(unused_port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{unused_port}/health"
    try:
        first = _wait_for(lambda: httpx.get(url, timeout=2).json()["snapshot"], 30)
        pids = set()
        deadline = time.monotonic() + 30
        while len(pids) < 2 and time.monotonic() < deadline:  # a fresh connection each: both workers answer
            pids.add(httpx.get(url, timeout=2).json()["pid"])
        assert len(pids) == 2 and server.pid not in pids

        newer = publish_snapshot(data / "warehouse.duckdb", data / "serving").name
        assert newer != first
        following: dict[int, str] = {}
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not (set(following) >= pids and set(following.values()) == {newer}):
            body = httpx.get(url, timeout=2).json()
            following[body["pid"]] = body["snapshot"]
        assert set(following) >= pids and set(following.values()) == {newer}, following

        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=20) == 130  # interrupted: the exit code table's 130
        for pid in pids:
            with pytest.raises(ProcessLookupError):
                os.kill(pid, 0)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def _wait_for(probe, seconds: float):
    deadline = time.monotonic() + seconds
    while True:
        try:
            return probe()
        except (httpx.HTTPError, KeyError, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
