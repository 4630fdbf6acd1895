"""Benchmark: issuing every percentile forecast (the engine fits walk-forward, so this is training and
inference in one pass) and building the SQL evaluation marts, on the default data; then the calibration
study: every forecaster on a long synthetic history, scored on the dates they all forecast.

    .venv/bin/python bench/forecasts.py [--symbols 40 --years 6 --calibration-years 60]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import duckdb

from dbt_project.runner import EVALUATION_SELECTOR, build
from featurecast.config import Settings
from featurecast.marketdata.landing import land
from featurecast.marketdata.synthetic import SyntheticSpec, generate
from ml.forecasts.calibration import attach_outcomes, calibration_table, equal_weight_history
from ml.forecasts.engine import forecast_portfolio
from ml.forecasts.issue import issue_forecasts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=40)
    parser.add_argument("--years", type=float, default=6.0)
    parser.add_argument("--calibration-years", type=float, default=60.0)
    args = parser.parse_args()
    os.environ.setdefault("DO_NOT_TRACK", "1")
    workdir = Path(tempfile.mkdtemp(prefix="featurecast-bench-forecasts-"))
    settings = Settings.from_env().with_warehouse(workdir / "warehouse.duckdb")
    land(
        settings.warehouse_path,
        generate(SyntheticSpec(n_symbols=args.symbols, years=args.years)).prices,
        source="synthetic",
    )
    build(settings, quiet=True)
    report = issue_forecasts(settings.warehouse_path)
    again = issue_forecasts(settings.warehouse_path)
    started = time.perf_counter()
    build(settings, select=EVALUATION_SELECTOR, quiet=True)
    evaluation_seconds = time.perf_counter() - started
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        evaluated = con.execute("select count(*) from marts.fct_forecast_evaluation").fetchone()[0]
    finally:
        con.close()
    print(
        f"featurecast forecast benchmark: {args.symbols} symbols x {args.years:g} years, portfolios "
        f"{', '.join(report.portfolios)}"
    )
    print(
        f"  issue {report.forecasts:,} forecasts (3 horizons x 3 models, every day): {report.seconds:.2f} s "
        f"(re-issue: {again.seconds:.2f} s, nothing duplicated)"
    )
    print(
        f"  dbt build of the evaluation marts ({evaluated:,} matured forecasts scored, including dbt start-up): "
        f"{evaluation_seconds:.2f} s"
    )
    calibration_study(args.calibration_years)


def calibration_study(years: float) -> None:
    """Coverage, hit rates and pinball loss of each forecaster over `years` of a 10-symbol equal-weight book."""
    import numpy as np
    import pandas as pd

    from featurecast.calendar import trading_days

    daily = equal_weight_history(generate(SyntheticSpec(n_symbols=10, years=years, seed=9)).prices)
    sessions = np.array(
        trading_days(daily["date"].min().date(), daily["date"].max().date() + pd.Timedelta(days=150)),
        dtype="datetime64[ns]",
    )
    started = time.perf_counter()
    forecasts = forecast_portfolio(daily, sessions)
    seconds = time.perf_counter() - started
    table = calibration_table(attach_outcomes(forecasts, daily))
    print(
        f"\ncalibration study: {years:g} years ({len(daily):,} sessions), every forecaster, same outcomes; "
        f"forecasting took {seconds:.1f} s"
    )
    print(table.sort_values(["horizon", "model"]).to_string(index=False, float_format=lambda v: f"{v:.4f}"))


if __name__ == "__main__":
    main()
