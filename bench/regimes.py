"""Benchmark: regime model fit time and the daily refresh latency (the plan's "regime refresh latency").

    .venv/bin/python bench/regimes.py                       # 40 symbols x 6 years (default data)
    .venv/bin/python bench/regimes.py --symbols 500 --years 10

Builds a warehouse through dbt on all but the last session, runs the first refresh (the walk-forward
backfill: a model version fitted every 252 sessions, each labelling the days after its fit), then lands
the last session, rebuilds and runs the daily refresh (one new label), against the embedded regime store.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from dbt_project.runner import build
from featurecast.config import Settings
from featurecast.marketdata.landing import land
from featurecast.marketdata.synthetic import SyntheticSpec, generate
from ml.regimes.model import select_model
from ml.regimes.refresh import market_features, refresh_regimes
from ml.regimes.store import open_store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=40)
    parser.add_argument("--years", type=float, default=6.0)
    args = parser.parse_args()
    os.environ.setdefault("DO_NOT_TRACK", "1")
    workdir = Path(tempfile.mkdtemp(prefix="featurecast-bench-regimes-"))
    settings = Settings.from_env().with_warehouse(workdir / "warehouse.duckdb")
    prices = generate(SyntheticSpec(n_symbols=args.symbols, years=args.years)).prices
    last = prices["date"].max()
    land(settings.warehouse_path, prices[prices["date"] < last], source="synthetic")
    build(settings, select="+fct_market_features", quiet=True)
    market = market_features(settings.warehouse_path)
    started = time.perf_counter()
    model = select_model(market)
    fit_seconds = time.perf_counter() - started
    store, client = open_store(None, settings.regime_store_dir)
    first = refresh_regimes(settings.warehouse_path, store)
    land(settings.warehouse_path, prices[prices["date"] == last], source="synthetic")
    build(settings, select="+fct_market_features", quiet=True)
    daily = refresh_regimes(settings.warehouse_path, store)
    client.close()
    print(f"featurecast regime benchmark: {args.symbols} symbols x {args.years:g} years, {len(market):,} market days")
    print(f"  fit 2 and 3 states, keep the lower BIC ({model.version}, {model.names}): {fit_seconds:.2f} s")
    print(
        f"  first refresh (walk-forward backfill: {first.versions_fitted} versions, {first.days_written:,} labels, "
        f"and the in-sample relabelling, to the embedded store and DuckDB): {first.seconds:.2f} s"
    )
    print(
        f"  daily refresh ({daily.days_written} new label, {daily.latest_date}: {daily.latest_regime}): "
        f"{daily.seconds:.2f} s"
    )


if __name__ == "__main__":
    main()
