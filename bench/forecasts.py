"""Benchmark: issuing every percentile forecast (the engine fits online, so this is training and inference
in one pass) and building the SQL evaluation marts, on the default data.

    .venv/bin/python bench/forecasts.py [--symbols 40 --years 6]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import duckdb

from dbt_project.runner import build
from featurecast.config import Settings
from featurecast.marketdata.landing import land
from featurecast.marketdata.synthetic import SyntheticSpec, generate
from ml.forecasts.issue import issue_forecasts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=40)
    parser.add_argument("--years", type=float, default=6.0)
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
    build(settings, select="stg_ml__forecasts+", quiet=True)
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
        f"  issue {report.forecasts:,} forecasts (3 horizons x 2 models, every day): {report.seconds:.2f} s "
        f"(re-issue: {again.seconds:.2f} s, nothing duplicated)"
    )
    print(
        f"  dbt build of the evaluation marts ({evaluated:,} matured forecasts scored, including dbt start-up): "
        f"{evaluation_seconds:.2f} s"
    )


if __name__ == "__main__":
    main()
