"""Benchmark: GET /features/{symbol} in-process, one symbol and 20 features, against plain pandas.

    make run                                        # a published snapshot in ./data
    .venv/bin/python bench/features_online.py       # ~20 seconds

Times each request alone (per-request latency, not throughput) over 5,000 requests that rotate the
symbol, the as_of date and which 20 features are asked for, so most answers are rendered, not read from
the body cache. Three ways are measured: the service call (the lookup and the JSON), the whole FastAPI
route in-process (routing, validation, the handler: the ASGI app called directly, no socket), and the plain
pandas baseline a user would otherwise write (filter the snapshot's feature table by symbol and date,
take the newest row, pick the columns). The target is p99 under 5 ms for the route.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path
from urllib.parse import urlencode

import numpy as np


def percentiles(samples: list[float]) -> str:
    ms = np.array(samples) * 1000
    return f"p50 {np.percentile(ms, 50):7.3f} ms   p99 {np.percentile(ms, 99):7.3f} ms   max {ms.max():7.2f} ms"


async def asgi_get(app, path: str, **params) -> bytes:
    """One GET through the ASGI app, no socket and no test client: what the route itself costs."""
    query = urlencode({k: ",".join(v) if isinstance(v, list) else str(v) for k, v in params.items()})
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
        "app": app,
    }
    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        sent.append(message)

    await app(scope, receive, send)
    if sent[0]["status"] != 200:
        raise SystemExit(f"{path}?{query} answered {sent[0]['status']}")
    return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", default=os.environ.get("FEATURECAST_DATA_DIR", "data"))
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    os.environ["FEATURECAST_DATA_DIR"] = str(Path(args.data_dir).resolve())

    import duckdb

    from featurecast.api.main import build_services, create_app
    from featurecast.config import Settings

    settings = Settings.from_env()
    services = build_services(settings)
    service = services.get("FeatureService")
    snapshot = service.store.current()
    if snapshot is None:
        raise SystemExit("no serving snapshot: run `make run` (or `featurecast publish`) first")
    names = service.names()
    symbols = sorted(snapshot.online_features)
    dates = snapshot.online_features[symbols[0]].dates
    rng = np.random.default_rng(0)
    asks = [
        (
            symbols[rng.integers(len(symbols))],
            list(rng.choice(names, size=20, replace=False)),
            dates[rng.integers(len(dates))].astype(object),
        )
        for _ in range(args.requests)
    ]
    print(
        f"online features: {len(symbols)} symbols x {len(dates)} sessions x {len(names)} features in the snapshot; "
        f"{args.requests:,} requests of 20 features"
    )

    def timed(call) -> list[float]:
        samples = []
        for symbol, wanted, as_of in asks:
            started = time.perf_counter()
            call(symbol, wanted, as_of)
            samples.append(time.perf_counter() - started)
        return samples

    service_times = timed(lambda s, w, d: service.features_json(s, w, d))
    app = create_app(settings, services)
    loop = asyncio.new_event_loop()
    route_times = timed(lambda s, w, d: loop.run_until_complete(asgi_get(app, f"/features/{s}", names=w, as_of=d)))
    loop.close()

    con = duckdb.connect(str(settings.serving_dir / snapshot.name), read_only=True)
    frame = con.execute("select * from features").df()
    con.close()

    def pandas_lookup(symbol: str, wanted: list[str], as_of) -> list[dict]:
        rows = frame[(frame["symbol"] == symbol) & (frame["date"] <= np.datetime64(as_of))]
        return rows.nlargest(1, "date")[[n for n in wanted if n in frame.columns]].to_dict("records")

    pandas_times = timed(pandas_lookup)
    print(f"  service call (lookup + JSON)     {percentiles(service_times)}")
    print(f"  FastAPI route, in-process        {percentiles(route_times)}   (target: p99 < 5 ms)")
    print(f"  pandas baseline (filter + pick)  {percentiles(pandas_times)}")
    ratio = np.percentile(pandas_times, 50) / np.percentile(service_times, 50)
    print(f"  ratio: pandas / service call at p50 = {ratio:.0f}x")


if __name__ == "__main__":
    main()
