"""Benchmark: signal-model training time, and /signals/{symbol} latency under concurrent load on loopback.

    .venv/bin/python bench/signals.py                         # the default data: 40 symbols x 6 years
    .venv/bin/python bench/signals.py --symbols 500 --years 10 --requests 0   # training at scale only

Builds a fresh warehouse (synthetic market, dbt build), trains LightGBM and CatBoost with the default
walk-forward validation, scores, publishes a snapshot, then starts the real app under uvicorn on
127.0.0.1 and sends a bounded number of requests from concurrent clients (keep-alive connections),
printing p50/p95/p99 latency and requests per second.
"""

from __future__ import annotations

import argparse
import os
import socket
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import uvicorn

from dbt_project.runner import build
from featurecast.api.main import build_services, create_app
from featurecast.config import Settings
from featurecast.marketdata.landing import land
from featurecast.marketdata.synthetic import SyntheticSpec, generate
from flows.publish import publish_snapshot
from ml.signals.score import score_latest
from ml.signals.train import train_signal_models


def where_the_time_went(model_dir: Path, total: float) -> str:
    """Each walk-forward fold's fit (with its training rows) and the final fit, from the model's metadata;
    the rest of `total` is reading the training set, calibration, metrics and writing the results."""
    import json

    metadata = json.loads((model_dir / "metadata.json").read_text())
    folds = [(f["fold"], int(f["train_rows"]), float(f["seconds"])) for f in metadata["folds"]]
    final = float(metadata["final_fit_seconds"])
    rest = total - sum(seconds for _, _, seconds in folds) - final
    parts = [f"fold {n} {seconds:.1f} s ({rows / 1e6:.2f} M rows)" for n, rows, seconds in folds]
    rows = int(metadata["training_window"]["rows"])
    return "; ".join(parts) + f"; final fit {final:.1f} s ({rows / 1e6:.2f} M rows); the rest {rest:.1f} s"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_test(settings: Settings, symbols: list[str], requests: int, clients: int) -> dict[str, float]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings, build_services(settings)), host="127.0.0.1", port=port, log_level="error")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    per_client = requests // clients

    def worker(offset: int) -> list[float]:
        latencies = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            client.get(f"/signals/{symbols[0]}")  # warm the connection
            for i in range(per_client):
                started = time.perf_counter()
                response = client.get(f"/signals/{symbols[(offset + i) % len(symbols)]}")
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"request failed: {response.status_code} {response.text[:100]}")
        return latencies

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(worker, range(clients)))
    elapsed = time.perf_counter() - started
    server.should_exit = True
    thread.join(timeout=10)
    latencies = np.concatenate(results) * 1000
    return {
        "requests": float(len(latencies)),
        "rps": len(latencies) / elapsed,
        "p50": float(np.percentile(latencies, 50)),
        "p95": float(np.percentile(latencies, 95)),
        "p99": float(np.percentile(latencies, 99)),
        "max": float(latencies.max()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=40)
    parser.add_argument("--years", type=float, default=6.0)
    parser.add_argument("--requests", type=int, default=4000, help="0 skips the load test")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    os.environ.setdefault("DO_NOT_TRACK", "1")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="featurecast-bench-signals-"))
    settings = Settings.from_env().with_warehouse(workdir / "warehouse.duckdb")

    prices = generate(SyntheticSpec(n_symbols=args.symbols, years=args.years)).prices
    land(settings.warehouse_path, prices, source="synthetic")
    started = time.perf_counter()
    build(settings, quiet=True)
    build_seconds = time.perf_counter() - started
    print(
        f"featurecast signal benchmark: {args.symbols} symbols x {args.years:g} years = {len(prices):,} bars "
        f"({os.cpu_count()} cores); dbt build {build_seconds:.1f} s"
    )
    for family in ("lightgbm", "catboost"):
        started = time.perf_counter()
        (trained,) = train_signal_models(
            settings.warehouse_path, settings.models_dir, families=(family,), promote_best=family == "lightgbm"
        )
        seconds = time.perf_counter() - started
        m, b = trained.metrics["model"], trained.metrics["baseline"]
        print(
            f"  train {family:<8} (5 walk-forward folds + final fit): {seconds:7.1f} s; out of sample: "
            f"AUC {m['auc']:.3f} vs momentum {b['auc']:.3f}, rank IC {m['rank_ic']:+.4f} vs {b['rank_ic']:+.4f}, "
            f"log loss {m['log_loss']:.4f} vs {b['log_loss']:.4f}, ECE {m['ece']:.3f}"
        )
        print("    " + where_the_time_went(trained.path, seconds))
    started = time.perf_counter()
    report = score_latest(settings.warehouse_path, last_dates=63)
    print(f"  score {report.rows:,} symbol-days with contributions: {time.perf_counter() - started:.2f} s")
    started = time.perf_counter()
    publish_snapshot(settings.warehouse_path, settings.serving_dir)
    print(f"  publish the serving snapshot: {time.perf_counter() - started:.2f} s")
    if args.requests:
        symbols = sorted(prices["symbol"].unique())
        stats = load_test(settings, symbols, args.requests, args.clients)
        print(
            f"  GET /signals/{{symbol}}: {stats['requests']:.0f} requests from {args.clients} concurrent clients on "
            f"loopback, {stats['rps']:.0f} requests/s; latency p50 {stats['p50']:.2f} ms, p95 {stats['p95']:.2f} ms, "
            f"p99 {stats['p99']:.2f} ms, max {stats['max']:.2f} ms (target p99 < 10 ms)"
        )
    print(f"workdir: {workdir}")


if __name__ == "__main__":
    main()
