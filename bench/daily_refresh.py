"""Benchmark: the end-to-end time of the daily_refresh flow, split by stage.

    .venv/bin/python bench/daily_refresh.py                        # 40 symbols x 6 years (default data)
    .venv/bin/python bench/daily_refresh.py --symbols 200 --years 10

Three runs on one temporary data directory, each a real Prefect flow run (temporary local server):
1. first night: every session but the last is landed; no champion yet, so the flow trains first;
2. next night: the last session is landed, then the nightly flow (incremental dbt, score, regimes,
   forecasts, evaluation, backtest, publish), every dbt node a Prefect task run;
3. the same night re-run without per-node task runs: what the per-node visibility costs.
The pandas comparison for the feature SQL itself is bench/features.py.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=40)
    parser.add_argument("--years", type=float, default=6.0)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="featurecast-bench-daily-"))
    os.environ.update(
        FEATURECAST_DATA_DIR=str(workdir),
        FEATURECAST_SYNTHETIC_SYMBOLS=str(args.symbols),
        FEATURECAST_SYNTHETIC_YEARS=str(args.years),
        PREFECT_LOGGING_LEVEL="WARNING",
        DO_NOT_TRACK="1",
    )
    os.environ.pop("FEATURECAST_WAREHOUSE", None)
    from featurecast.config import Settings
    from featurecast.marketdata.landing import land
    from featurecast.marketdata.service import MarketDataService
    from featurecast.marketdata.synthetic import generate
    from flows.daily_refresh import daily_refresh

    settings = Settings.from_env()
    prices = generate(MarketDataService(settings).default_synthetic_spec()).prices
    last = prices["date"].max()
    runs = []
    for label, day, node_tasks in (
        ("first night (trains)", prices[prices["date"] < last], True),
        ("next night (+1 session)", prices[prices["date"] == last], True),
        ("re-run, no node tasks", None, False),
    ):
        landing = 0.0
        if day is not None:
            started = time.perf_counter()
            land(settings.warehouse_path, day, source="synthetic")
            landing = time.perf_counter() - started
        started = time.perf_counter()
        summary = daily_refresh(source="none", node_tasks=node_tasks)
        total = time.perf_counter() - started
        runs.append((label, total + landing, {"land new bars": landing, **summary.stage_seconds}))

    stages = list(dict.fromkeys(stage for _, _, seconds in runs for stage in seconds))
    print(f"daily_refresh, {args.symbols} symbols x {args.years:g} years ({len(prices):,} bars), data in {workdir}")
    header = f"{'stage':<36}" + "".join(f"{label:>26}" for label, _, _ in runs)
    print(header)
    print("-" * len(header))
    for stage in stages:
        cells = "".join(f"{seconds[stage]:>25.1f}s" if stage in seconds else f"{'-':>26}" for _, _, seconds in runs)
        print(f"{stage:<36}{cells}")
    overhead = [total - sum(seconds.values()) for _, total, seconds in runs]
    print(f"{'Prefect flow start and bookkeeping':<36}" + "".join(f"{o:>25.1f}s" for o in overhead))
    print(f"{'end to end':<36}" + "".join(f"{total:>25.1f}s" for _, total, _ in runs))


if __name__ == "__main__":
    main()
