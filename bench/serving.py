"""Benchmark: the HTTP API under load on loopback, beside each route's in-process cost.

    make run                                   # a published snapshot and regimes in ./data
    apt-get install hey                        # the load generator (Debian's package)
    .venv/bin/python bench/serving.py          # ~3 minutes on 2 cores
    .venv/bin/python bench/serving.py --soak 60   # plus every route at c=32 for 60 s, counting non-2xx
    .venv/bin/python bench/serving.py --shed      # only the load-shedding cases below (~1 minute)

Starts `featurecast serve --workers N` on a free loopback port against $FEATURECAST_DATA_DIR (./data),
drives it with `hey` (closed-loop at c=1/8/32, and open-loop at a fixed rate for /signals from 4
connections, hey held to one core), and prints,
per route: requests/s, p50/p99/max latency and the number of non-2xx answers. Latencies come from hey's
per-request CSV, computed here. The in-process column is the service call alone (no HTTP), timed over
thousands of calls. A plain-pandas row is the baseline the brief asks for: the same /signals lookup
done as a pandas filter over the snapshot's signal table.

Load shedding (always run; alone with --shed): 500 concurrent clients on each expensive route (the
dashboard page, the KPI panel) for 10 s while a prober asks /health on a fresh connection every 20 ms:
/health's p99 and max, the route's answers, and the workers' memory before, at the peak and 5 s after.
Then 300 clients that send half a request head and stop: how many the server still holds after the
head deadline (featurecast.api.http_guard.py).
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from featurecast.duckdb_rows import one_row

ROUTES = {
    "/signals/{symbol}": "/signals/{symbol}",
    "/market-data/regime": "/market-data/regime",
    "/market-data/regime?limit=100": "/market-data/regime?limit=100",
    "/dashboard/kpis": "/dashboard/kpis",
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(workers: int, port: int) -> subprocess.Popen:
    binary = Path(sys.executable).parent / "featurecast"
    server = subprocess.Popen(
        [str(binary), "serve", "--workers", str(workers), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).json().get("snapshot"):
                return server
        except (httpx.HTTPError, ValueError):
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not come up with a snapshot: run `make run` first")


def hey(url: str, *, seconds: float, concurrency: int, rate: float | None = None) -> dict[str, float]:
    args = ["hey", "-z", f"{seconds:g}s", "-c", str(concurrency), "-o", "csv"]
    if rate:  # open loop: hey on one core, so the server's workers keep theirs
        args += ["-q", f"{rate / concurrency:g}", "-cpus", "1"]
    done = subprocess.run([*args, url], capture_output=True, text=True, check=True)
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    latency = np.array([float(r["response-time"]) for r in rows]) * 1000
    statuses = [int(r["status-code"]) for r in rows]
    return {
        "requests": len(rows),
        "rps": len(rows) / seconds,
        "p50": float(np.percentile(latency, 50)),
        "p99": float(np.percentile(latency, 99)),
        "max": float(latency.max()),
        "non_2xx": sum(1 for s in statuses if not 200 <= s < 300),
    }


def _rss_mb(server: subprocess.Popen) -> float:
    """Resident memory of the server's worker processes (its children), in MB."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == server.pid:
            total += int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    return total / 1e6


def _probe_health(base: str, stop: threading.Event, latencies: list[float], failures: list[str]) -> None:
    """GET /health on a fresh connection every 20 ms, with a bare socket: an HTTP client library's own
    cost in this CPU-starved process would be measured as the server's (httpx read p99 117 ms where curl,
    at the same moment, read 12 ms)."""
    host, port = base.removeprefix("http://").split(":")
    request = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    while not stop.is_set():
        started = time.perf_counter()
        try:
            with socket.create_connection((host, int(port)), timeout=5) as sock:
                sock.sendall(request)
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
            if not answer.startswith(b"HTTP/1.1 200"):
                failures.append(answer[:12].decode(errors="replace"))
            else:
                latencies.append((time.perf_counter() - started) * 1000)
        except OSError as exc:
            failures.append(type(exc).__name__)
        time.sleep(0.02)


def shed_load(base: str, server: subprocess.Popen, seconds: float = 10.0) -> None:
    """The load-shedding cases: 500 clients on an expensive route, /health probed all along; half-sent heads."""
    from featurecast.api.http_guard import REQUEST_HEAD_TIMEOUT

    print("load shedding: 500 concurrent clients per route, /health probed every 20 ms on a fresh connection")
    print(
        f"{'route':<18}{'answers':>9}{'non-2xx':>9}{'health p99':>12}{'max ms':>9}{'failed':>8}"
        f"{'MB before/peak/after':>24}"
    )
    for route in ("/dashboard", "/dashboard/kpis"):
        for _ in range(8):  # every worker has rendered the route once: the first render is not the load's
            httpx.get(base + route, timeout=60)
        before, peak = _rss_mb(server), 0.0
        latencies: list[float] = []
        failures: list[str] = []
        stop = threading.Event()
        prober = threading.Thread(target=_probe_health, args=(base, stop, latencies, failures), daemon=True)
        prober.start()
        with tempfile.TemporaryFile("w+") as results:  # a file, not a pipe: hey writes a row per request
            load = subprocess.Popen(  # hey held to one core, as a remote client would be
                ["hey", "-z", f"{seconds:g}s", "-c", "500", "-t", "20", "-cpus", "1", "-o", "csv", base + route],
                stdout=results,
            )
            while load.poll() is None:
                peak = max(peak, _rss_mb(server))
                time.sleep(0.2)
            results.seek(0)
            out = results.read()
        stop.set()
        prober.join()
        rows = list(csv.DictReader(io.StringIO(out)))
        non_2xx = sum(1 for r in rows if not 200 <= int(r["status-code"]) < 300)
        time.sleep(5)
        after = _rss_mb(server)
        p99 = float(np.percentile(latencies, 99)) if latencies else float("nan")
        print(
            f"{route:<18}{len(rows):>9}{non_2xx:>9}{p99:>11.1f} {max(latencies, default=float('nan')):>8.1f}"
            f"{len(failures):>8}{f'{before:.0f} / {peak:.0f} / {after:.0f}':>24}"
        )
    host, port = base.removeprefix("http://").split(":")
    half_sent = []
    for _ in range(300):
        sock = socket.create_connection((host, int(port)))
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # the head never ends
        half_sent.append(sock)
    time.sleep(REQUEST_HEAD_TIMEOUT + 1)
    still_open = 0
    for sock in half_sent:
        sock.settimeout(0.1)
        try:
            still_open += sock.recv(1) != b""
        except TimeoutError:
            still_open += 1
        except OSError:
            pass
        sock.close()
    print(f"300 half-sent request heads: {still_open} still held {REQUEST_HEAD_TIMEOUT + 1:g} s later (target: 0)")


def in_process_costs(data_dir: Path, symbol: str) -> dict[str, float]:
    """Microseconds per service call, no HTTP: what a route costs before the web stack."""
    import duckdb

    from featurecast.api.main import build_services
    from featurecast.config import Settings

    os.environ["FEATURECAST_DATA_DIR"] = str(data_dir)
    services = build_services(Settings.from_env())
    signals, regimes, dashboard = (services.get(n) for n in ("MLSignalService", "RegimeService", "DashboardService"))
    calls = {
        "/signals/{symbol}": lambda: signals.signal(symbol),
        "/market-data/regime": lambda: regimes.regime("market"),
        "/market-data/regime?limit=100": lambda: regimes.regime("market", limit=100),
        "/dashboard/kpis": dashboard.kpis,
    }
    costs = {}
    for route, call in calls.items():
        call()  # load the snapshot and the regime view once
        n = 2000
        started = time.perf_counter()
        for _ in range(n):
            call()
        costs[route] = (time.perf_counter() - started) / n * 1e6
    # The plain-pandas baseline: the same latest-signal lookup as a filter over the snapshot's table.
    snapshot = signals.store.current()
    con = duckdb.connect(str(data_dir / "serving" / snapshot.name), read_only=True)
    frame = con.execute("select symbol, date, probability from signals").df()
    con.close()
    n = 200
    started = time.perf_counter()
    for _ in range(n):
        frame[frame["symbol"] == symbol].sort_values("date").iloc[-1]
    costs["pandas baseline: latest signal by filter"] = (time.perf_counter() - started) / n * 1e6
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("FEATURECAST_DATA_DIR", "data"))
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seconds", type=float, default=5.0, help="per closed-loop cell")
    parser.add_argument("--rate", type=float, default=1000.0, help="fixed request rate for /signals")
    parser.add_argument("--soak", type=float, default=0.0, help="seconds of every route at c=32 (0: skip)")
    parser.add_argument("--shed", action="store_true", help="only the load-shedding cases")
    args = parser.parse_args()
    if shutil.which("hey") is None:
        raise SystemExit("bench/serving.py needs `hey` (apt-get install hey)")
    data_dir = Path(args.data_dir).resolve()
    os.environ["FEATURECAST_DATA_DIR"] = str(data_dir)
    port = free_port()
    server = start_server(args.workers, port)
    base = f"http://127.0.0.1:{port}"
    try:
        symbol = _first_symbol(data_dir)
        for template in ROUTES.values():  # warm every worker: first loads are not what is measured
            for _ in range(20):
                httpx.get(base + template.format(symbol=symbol), timeout=30)
        if args.shed:
            shed_load(base, server)
            return
        print(f"featurecast serving benchmark: {args.workers} worker(s), uvloop + httptools, loopback, hey")
        print(f"{'route':<34}{'c':>4}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'non-2xx':>9}")
        for route, template in ROUTES.items():
            url = base + template.format(symbol=symbol)
            for concurrency in (1, 8, 32):
                r = hey(url, seconds=args.seconds, concurrency=concurrency)
                print(
                    f"{route:<34}{concurrency:>4}{r['rps']:>9.0f}{r['p50']:>9.2f}{r['p99']:>9.2f}"
                    f"{r['max']:>9.1f}{r['non_2xx']:>9}"
                )
        fixed = hey(base + f"/signals/{symbol}", seconds=max(args.seconds, 10), concurrency=4, rate=args.rate)
        print(
            f"/signals/{{symbol}} at a fixed {args.rate:.0f} req/s: achieved {fixed['rps']:.0f} req/s, "
            f"p50 {fixed['p50']:.2f} ms, p99 {fixed['p99']:.2f} ms, max {fixed['max']:.1f} ms, "
            f"non-2xx {fixed['non_2xx']} (target: p99 < 5 ms)"
        )
        if args.soak:
            total, failed = 0.0, 0.0
            for template in ROUTES.values():
                r = hey(base + template.format(symbol=symbol), seconds=args.soak / len(ROUTES), concurrency=32)
                total, failed = total + r["requests"], failed + r["non_2xx"]
            print(f"soak: every route at c=32 for {args.soak:g} s: {total:,.0f} requests, {failed:.0f} non-2xx")
        shed_load(base, server)
    finally:
        server.terminate()
        server.wait(timeout=30)
    costs = in_process_costs(data_dir, symbol)
    print("in-process cost per call (no HTTP):")
    for route, micros in costs.items():
        print(f"  {route:<44}{micros:>10.1f} µs")
    ratio = costs["pandas baseline: latest signal by filter"] / costs["/signals/{symbol}"]
    print(f"  ratio: pandas filter / served lookup = {ratio:.0f}x")


def _first_symbol(data_dir: Path) -> str:
    import duckdb

    pointer = (data_dir / "serving" / "CURRENT").read_text().strip()
    con = duckdb.connect(str(data_dir / "serving" / pointer), read_only=True)
    try:
        return one_row(con, "select min(symbol) from signals")[0]
    finally:
        con.close()


if __name__ == "__main__":
    main()
