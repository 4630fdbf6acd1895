"""Landing raw bars: idempotent by (symbol, date, source); every bad input is rejected whole.

What each bad input gets (the warehouse is byte-for-byte unchanged in every case):
| input                                   | error                 |
| empty frame                             | EmptyDataError        |
| missing required column                 | SchemaError           |
| unknown column                          | SchemaError           |
| non-numeric price                       | InvalidValueError     |
| missing price                           | InvalidValueError     |
| unparseable date                        | InvalidValueError     |
| date in the future                      | InvalidValueError     |
| negative volume                         | InvalidValueError     |
| malformed symbol                        | InvalidValueError     |
| same (symbol, date) with other values   | DuplicateRowsError    |
| exact duplicate rows                    | accepted, collapsed and counted |
"""

from datetime import UTC, date, datetime

import duckdb
import pandas as pd
import pytest

from featurecast.marketdata.errors import (
    DuplicateRowsError,
    EmptyDataError,
    InvalidValueError,
    SchemaError,
)
from featurecast.marketdata.landing import land
from tests.python.conftest import warehouse_state

NOW = datetime(2025, 1, 10, 21, 0, tzinfo=UTC)


def bars(n: int = 3, symbol: str = "ABC", start: str = "2025-01-02", close: float = 10.0) -> pd.DataFrame:
    days = pd.bdate_range(start, periods=n).date
    return pd.DataFrame(
        {
            "symbol": symbol,
            "date": days,
            "open": close,
            "high": close + 1,
            "low": close - 1,
            "close": [close + i * 0.1 for i in range(n)],
            "volume": 1000,
        }
    )


@pytest.fixture()
def warehouse(tmp_path):
    path = tmp_path / "w.duckdb"
    land(path, bars(), source="csv", now=NOW)
    return path


def test_reloading_the_same_batch_changes_nothing(warehouse) -> None:
    before = warehouse_state(warehouse)["raw.daily_ohlcv"]
    report = land(warehouse, bars(), source="csv", now=NOW)
    assert (report.rows_inserted, report.rows_updated, report.rows_unchanged) == (0, 0, 3)
    # Unchanged rows keep their original batch and load time: nothing downstream is recomputed.
    assert warehouse_state(warehouse)["raw.daily_ohlcv"] == before


def test_a_correction_replaces_the_row_and_new_days_append(warehouse) -> None:
    corrected = bars(4)
    corrected.loc[1, "close"] = 10.55
    report = land(warehouse, corrected, source="csv", now=NOW)
    assert (report.rows_inserted, report.rows_updated, report.rows_unchanged) == (1, 1, 2)
    con = duckdb.connect(str(warehouse), read_only=True)
    rows = con.execute("select date, close from raw.daily_ohlcv order by date").fetchall()
    assert [r[1] for r in rows] == [10.0, 10.55, 10.2, 10.3]
    assert con.execute("select count(*) from raw.load_batches").fetchone()[0] == 2


def test_same_key_from_another_source_is_kept_apart(warehouse) -> None:
    report = land(warehouse, bars(), source="synthetic", now=NOW)
    assert report.rows_inserted == 3
    con = duckdb.connect(str(warehouse), read_only=True)
    assert con.execute("select count(*) from raw.daily_ohlcv").fetchone()[0] == 6


def test_exact_duplicates_are_collapsed_and_counted(warehouse) -> None:
    frame = pd.concat([bars(4), bars(4).iloc[[3]]], ignore_index=True)
    report = land(warehouse, frame, source="csv", now=NOW)
    assert report.duplicates_collapsed == 1
    assert report.rows_inserted == 1


def _broken(kind: str) -> pd.DataFrame:
    frame = bars(3).astype({"close": object, "date": object, "symbol": object, "volume": object})
    if kind == "empty":
        return frame.iloc[0:0]
    if kind == "missing_column":
        return frame.drop(columns=["close"])
    if kind == "unknown_column":
        return frame.assign(vwap=1.0)
    if kind == "non_numeric":
        frame.loc[1, "close"] = "12,5O"
    elif kind == "missing_price":
        frame.loc[1, "close"] = None
    elif kind == "bad_date":
        frame.loc[1, "date"] = "2025-13-45"
    elif kind == "future_date":
        frame.loc[2, "date"] = date(2025, 1, 11)
    elif kind == "negative_volume":
        frame.loc[0, "volume"] = -5
    elif kind == "bad_symbol":
        frame.loc[0, "symbol"] = "A B;drop table"
    elif kind == "conflicting_duplicate":
        extra = frame.iloc[[0]].copy()
        extra["close"] = 99.0
        frame = pd.concat([frame, extra], ignore_index=True)
    return frame


@pytest.mark.parametrize(
    ("kind", "error", "message"),
    [
        ("empty", EmptyDataError, "empty"),
        ("missing_column", SchemaError, "missing required column(s): close"),
        ("unknown_column", SchemaError, "unknown column(s): vwap"),
        ("non_numeric", InvalidValueError, "non-numeric value(s) in column 'close': ABC 2025-01-03: '12,5O'"),
        ("missing_price", InvalidValueError, "missing value(s) in required column 'close'"),
        ("bad_date", InvalidValueError, "not '2025-13-45'; one format per file"),
        ("future_date", InvalidValueError, "in the future"),
        ("negative_volume", InvalidValueError, "negative volume"),
        ("bad_symbol", InvalidValueError, "invalid symbol(s)"),
        ("conflicting_duplicate", DuplicateRowsError, "ABC 2025-01-02"),
    ],
)
def test_bad_input_is_rejected_and_the_warehouse_is_unchanged(warehouse, kind, error, message) -> None:
    before = warehouse_state(warehouse)
    with pytest.raises(error) as caught:
        land(warehouse, _broken(kind), source="csv", now=NOW)
    assert message in str(caught.value)
    assert warehouse_state(warehouse) == before


def test_bad_input_never_creates_a_warehouse(tmp_path) -> None:
    path = tmp_path / "never.duckdb"
    with pytest.raises(EmptyDataError):
        land(path, bars().iloc[0:0], source="csv", now=NOW)
    assert not path.exists()


def test_a_crash_mid_load_rolls_back(warehouse, monkeypatch) -> None:
    """A failure after rows were written inside the transaction leaves nothing behind."""
    before = warehouse_state(warehouse)
    import featurecast.marketdata.landing as landing

    real_dumps = landing.json.dumps

    def crash(*args, **kwargs):  # the batch record is written last, after the rows
        raise RuntimeError("disk full")

    monkeypatch.setattr(landing.json, "dumps", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        land(warehouse, bars(6), source="csv", now=NOW)
    monkeypatch.setattr(landing.json, "dumps", real_dumps)
    assert warehouse_state(warehouse) == before
