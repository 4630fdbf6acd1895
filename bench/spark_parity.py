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

from dbt_project.parity import PARITY_MARTS, differences, spark_table
from dbt_project.runner import build
from featurecast.config import Settings
from featurecast.marketdata.service import MarketDataService


def package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit(f"{package} is not installed (make setup installs it)")
    return Path(spec.submodule_search_locations[0], *parts)


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
    print(f"real series (^GSPC, ^IXIC, GOOG), data in {workdir}")
    for engine, value in seconds.items():
        print(f"  full build on {engine:<18} {value:7.1f} s")
    print(f"  Spark / DuckDB                      {seconds['Spark (local[2])'] / seconds['DuckDB']:7.1f}x")
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        for mart, keys in PARITY_MARTS.items():
            expected = con.execute(f"select * from {mart} order by {', '.join(keys)}").df()
            actual = spark_table(settings, mart)
            actual = actual[list(expected.columns)].sort_values(keys).reset_index(drop=True)
            bad = differences(expected, actual) if len(actual) == len(expected) else ["row counts differ"]
            print(f"  {mart:<34} {len(expected):>7,} rows  {'equal' if not bad else 'DIFFERENT: ' + ', '.join(bad)}")
    finally:
        con.close()


if __name__ == "__main__":
    main()
