"""The server sheds load instead of stalling: `featurecast serve --workers 2` as typed, on a real stack.

What each load gets:
- 300 clients at once on /dashboard (and on /dashboard/kpis): every one is answered 200; /health, probed
  all along on fresh connections, answers every probe; the workers' memory ends within 150 MB of where
  it started (the page is rendered once per snapshot and shared, not once per client).
- 100 connections that send half a request head and 100 that send nothing: the server closes every one
  after the head deadline (10 s), and goes on serving.
Latency figures (/health p99 under 500 clients) are measured by `bench/serving.py --shed`, not here.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from featurecast.api.http_guard import REQUEST_HEAD_TIMEOUT

pytestmark = pytest.mark.dbt


@pytest.fixture(scope="module")
def server(served_stack, tmp_path_factory) -> Iterator[tuple[str, subprocess.Popen]]:
    data = tmp_path_factory.mktemp("load") / "data"
    shutil.copytree(served_stack.data_dir, data, ignore=shutil.ignore_patterns("dbt_*", "models"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEATURECAST_", "MONGODB_URI"))}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [str(Path(sys.executable).parent / "featurecast"), "serve", "--workers", "2", "--port", str(port)],
        env=env | {"FEATURECAST_DATA_DIR": str(data)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(base + "/health", timeout=2).json().get("snapshot"):
                break
        except (httpx.HTTPError, ValueError):
            pass
        assert time.monotonic() < deadline, "the server did not come up"
        time.sleep(0.2)
    try:
        yield base, process
    finally:
        process.terminate()
        process.wait(timeout=30)


def _workers_rss_mb(server: subprocess.Popen) -> float:
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == server.pid:
            total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return total / 1e6


async def _many_at_once(host: str, port: int, path: str, clients: int) -> list[int]:
    """`clients` connections opened together, each sending one GET and reading the whole answer."""

    async def one() -> int:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(-1), timeout=90)
        writer.close()
        return int(answer.split(b" ", 2)[1]) if answer else 0

    return list(await asyncio.gather(*(one() for _ in range(clients))))


@pytest.mark.parametrize("route", ["/dashboard", "/dashboard/kpis"])
def test_many_clients_on_an_expensive_route_do_not_stall_health(server, route) -> None:
    base, process = server
    for _ in range(4):  # both workers have rendered the route once
        assert httpx.get(base + route, timeout=60).status_code == 200
    baseline = _workers_rss_mb(process)
    probes: list[int | str] = []
    stop = threading.Event()

    def probe() -> None:
        while not stop.is_set():
            try:
                probes.append(httpx.get(base + "/health", timeout=10).status_code)
            except httpx.HTTPError as exc:
                probes.append(type(exc).__name__)
            time.sleep(0.05)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    host, port = base.removeprefix("http://").split(":")
    statuses = asyncio.run(_many_at_once(host, int(port), route, 300))
    stop.set()
    prober.join()
    assert statuses.count(200) == 300, sorted(set(statuses))
    assert probes and set(probes) == {200}, [p for p in probes if p != 200][:5]
    time.sleep(2)
    assert _workers_rss_mb(process) - baseline < 150


def test_half_sent_and_silent_connections_are_closed_after_the_head_deadline(server) -> None:
    base, _ = server
    host, port = base.removeprefix("http://").split(":")
    connections = []
    for i in range(200):
        sock = socket.create_connection((host, int(port)))
        if i % 2:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # the head never ends
        connections.append(sock)
    time.sleep(REQUEST_HEAD_TIMEOUT + 2)
    still_open = 0
    for sock in connections:
        sock.settimeout(1)
        try:
            still_open += sock.recv(1) != b""
        except TimeoutError:
            still_open += 1
        except OSError:
            pass
        sock.close()
    assert still_open == 0
    assert httpx.get(base + "/health", timeout=5).status_code == 200  # and the server goes on serving
