"""Benchmark and check: the project on DuckDB and on local Spark, on real daily series.

    .venv/bin/python bench/spark_parity.py

Lands the real series that test dependencies ship (the S&P 500 and NASDAQ Composite 1999-2018 from arch,
GOOG 2004-2013 from backtesting; the S&P 500 is the market series), builds on DuckDB, then on Spark
(`build --target spark`), prints both build times, and compares eight marts row for row: keys, text,
flags and dates exactly, floating point to a relative 1e-9. Everything runs in a temporary directory.
"""

from __future__ import annotations

import importlib.util
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from dbt_project.runner import build
from featurecast.config import Settings
from featurecast.marketdata.service import MarketDataService

MARTS = {
    "marts.dim_trading_calendar": ["date"],
    "marts.dim_symbols": ["symbol"],
    "intermediate.int_prices_checked": ["symbol", "date"],
    "marts.fct_price_quarantine": ["symbol", "date", "rule"],
    "marts.fct_daily_features": ["symbol", "date"],
    "marts.fct_market_features": ["date"],
    "marts.fct_daily_labels": ["symbol", "date"],
    "marts.fct_training_set": ["symbol", "date"],
}


def package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not installed (make setup installs it)")
    return Path(spec.submodule_search_locations[0], *parts)


def differences(expected: pd.DataFrame, actual: pd.DataFrame) -> list[str]:
    """Columns whose values differ beyond the tolerance, with how many rows."""
    found = []
    for column in expected.columns:
        left, right = expected[column], actual[column]
        if pd.api.types.is_float_dtype(left) or pd.api.types.is_float_dtype(right):
            a, b = left.astype(float).to_numpy(), right.astype(float).to_numpy()
            same = np.isclose(b, a, rtol=1e-9, atol=1e-12, equal_nan=True)
        elif pd.api.types.is_datetime64_any_dtype(left):
            stamps = pd.to_datetime(right)
            stamps = stamps.dt.tz_convert(None) if stamps.dt.tz is not None else stamps
            same = (stamps == left).to_numpy()
        else:
            same = (right.astype(object).where(right.notna(), None) == left.astype(object).where(left.notna(), None))
            same = (same | (left.isna() & right.isna())).to_numpy()
        if not same.all():
            found.append(f"{column} ({int((~same).sum())} rows)")
    return found


def main() -> None:
    workdir = Path(tempfile.mkdtemp(prefix="featurecast-spark-parity-"))
    settings = replace(Settings.from_env().with_warehouse(workdir / "warehouse.duckdb"), market_series="^GSPC")
    service = MarketDataService(settings)
    service.ingest_csv([package_file("arch", "data", "sp500", "sp500.csv.gz")], symbol="^GSPC")
    service.ingest_csv([package_file("arch", "data", "nasdaq", "nasdaq.csv.gz")], symbol="^IXIC", has_volume=False)
    service.ingest_csv([package_file("backtesting", "test", "GOOG.csv")])
    seconds = {}
    for engine, target in (("DuckDB", None), ("Spark (local[2])", "spark")):
        started = time.perf_counter()
        build(settings, quiet=True, target=target)
        seconds[engine] = time.perf_counter() - started
    from pyspark.sql import SparkSession

    spark = SparkSession.builder.getOrCreate()
    print(f"real series (^GSPC, ^IXIC, GOOG), data in {workdir}")
    for engine, value in seconds.items():
        print(f"  full build on {engine:<18} {value:7.1f} s")
    print(f"  Spark / DuckDB                      {seconds['Spark (local[2])'] / seconds['DuckDB']:7.1f}x")
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        for mart, keys in MARTS.items():
            expected = con.execute(f"select * from {mart} order by {', '.join(keys)}").df()
            actual = spark.sql(f"select * from {mart}").toArrow().to_pandas()
            actual = actual[list(expected.columns)].sort_values(keys).reset_index(drop=True)
            bad = differences(expected, actual) if len(actual) == len(expected) else ["row counts differ"]
            print(f"  {mart:<34} {len(expected):>7,} rows  {'equal' if not bad else 'DIFFERENT: ' + ', '.join(bad)}")
    finally:
        con.close()


if __name__ == "__main__":
    main()
