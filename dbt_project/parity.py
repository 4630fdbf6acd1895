"""DuckDB against Spark: the marts both engines must agree on, and how they are compared.

The test (tests/python/test_spark.py) and the real-data check (bench/spark_parity.py) share this list and
the way a Spark table is read back (featurecast.marts, as the Python side reads it), so they prove the
same thing.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from featurecast.config import Settings
from featurecast.marts import SparkMarts

# Each mart with the key its rows are sorted by before comparing.
PARITY_MARTS: dict[str, list[str]] = {
    "marts.dim_trading_calendar": ["date"],
    "marts.dim_symbols": ["symbol"],
    "intermediate.int_prices_checked": ["symbol", "date"],
    "marts.fct_price_quarantine": ["symbol", "date", "rule"],
    "marts.fct_daily_features": ["symbol", "date"],
    "marts.fct_market_features": ["date"],
    "marts.fct_daily_labels": ["symbol", "date"],
    "marts.fct_training_set": ["symbol", "date"],
}
RTOL, ATOL = 1e-9, 1e-12  # floating point: the engines add in different orders


def spark_table(settings: Settings, name: str) -> pd.DataFrame:
    """A table of the Spark target, read the way the Python side reads marts (featurecast.marts)."""
    return SparkMarts(settings).frame(f"select * from {name}")


def naive_timestamps(values: pd.Series) -> pd.Series:
    """Spark hands timestamps over in its session time zone (UTC); DuckDB's have none."""
    stamps = pd.to_datetime(values)
    return stamps.dt.tz_convert(None) if stamps.dt.tz is not None else stamps


def differences(expected: pd.DataFrame, actual: pd.DataFrame) -> list[str]:
    """Columns of `actual` (Spark, same row order) that differ from `expected` (DuckDB), with how many
    rows: keys, text, flags and dates exactly, floating point to RTOL."""
    found = []
    for column in expected.columns:
        left, right = expected[column], actual[column]
        if pd.api.types.is_float_dtype(left) or pd.api.types.is_float_dtype(right):
            a, b = left.astype(float).to_numpy(), right.astype(float).to_numpy()
            same = np.isclose(b, a, rtol=RTOL, atol=ATOL, equal_nan=True)
        elif pd.api.types.is_datetime64_any_dtype(left):
            same = (naive_timestamps(right) == left).to_numpy()
        else:
            equal = right.astype(object).where(right.notna(), None) == left.astype(object).where(left.notna(), None)
            same = (equal | (left.isna() & right.isna())).to_numpy()
        if not same.all():
            found.append(f"{column} ({int((~same).sum())} rows)")
    return found
