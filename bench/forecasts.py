"""Benchmark: issuing every percentile forecast (the engine fits walk-forward, so this is training and
inference in one pass) and building the SQL evaluation marts, on the default data; the nightly issue on
a long history (incremental: the new day only) against a full re-issue of that history; then the
calibration study: every forecaster on a long synthetic history, scored on the dates they all forecast.

    .venv/bin/python bench/forecasts.py [--symbols 40 --years 6 --nightly-years 30 --calibration-years 60]
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
from featurecast.duckdb_rows import one_row
from featurecast.marketdata.landing import land
from featurecast.marketdata.synthetic import SyntheticSpec, generate
from ml.forecasts.calibration import attach_outcomes, calibration_table, equal_weight_history
from ml.forecasts.engine import forecast_portfolio
from ml.forecasts.issue import issue_forecasts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=40)
    parser.add_argument("--years", type=float, default=6.0)
    parser.add_argument("--nightly-years", type=float, default=30.0)
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
    build(settings, selector=EVALUATION_SELECTOR, quiet=True)
    evaluation_seconds = time.perf_counter() - started
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        evaluated = one_row(con, "select count(*) from marts.fct_forecast_evaluation")[0]
    finally:
        con.close()
    print(
        f"featurecast forecast benchmark: {args.symbols} symbols x {args.years:g} years, portfolios "
        f"{', '.join(report.portfolios)}"
    )
    print(
        f"  issue {report.forecasts:,} forecasts (3 horizons x 3 models, every day): {report.seconds:.2f} s "
        f"(nightly re-run with no new day: {again.seconds:.2f} s, {again.forecasts} rows written)"
    )
    print(
        f"  dbt build of the evaluation marts ({evaluated:,} matured forecasts scored, including dbt start-up): "
        f"{evaluation_seconds:.2f} s"
    )
    nightly_issue(args.nightly_years, workdir)
    calibration_study(args.calibration_years)


def nightly_issue(years: float, workdir: Path) -> None:
    """The nightly forecast issue on `years` of history: a full issue of every day but the last, then the
    nightly run that adds the last day (incremental), against re-issuing the whole history (the baseline:
    what a nightly job that recomputes everything pays)."""
    import pandas as pd

    from featurecast.calendar import trading_days

    daily = equal_weight_history(generate(SyntheticSpec(n_symbols=10, years=years, seed=9)).prices)
    warehouse = workdir / "nightly.duckdb"
    calendar = list(trading_days(daily["date"].min().date(), daily["date"].max().date() + pd.Timedelta(days=150)).date)

    def write(history) -> None:
        with duckdb.connect(str(warehouse)) as con:
            con.execute("create schema if not exists marts")
            con.execute(
                "create or replace table marts.dim_trading_calendar as "
                "select unnest(?::date[]) as date, true as is_trading_day",
                [calendar],
            )
            con.register("history_in", history.assign(portfolio="equal_weight"))
            con.execute("create or replace table marts.fct_portfolio_daily as select * from history_in")

    write(daily.iloc[:-1])
    first = issue_forecasts(warehouse)
    write(daily)
    nightly = issue_forecasts(warehouse)
    full = issue_forecasts(warehouse, full=True)
    print(
        f"\nnightly issue on {years:g} years ({len(daily):,} sessions, one portfolio): the new day in "
        f"{nightly.seconds:.2f} s ({nightly.forecasts} forecasts, {nightly.new_issue_dates} issue date) against "
        f"{full.seconds:.1f} s to re-issue all {full.new_issue_dates:,} dates ({full.forecasts:,} forecasts): "
        f"{full.seconds / nightly.seconds:.0f}x (first issue: {first.seconds:.1f} s; target: under 5 s)"
    )


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
