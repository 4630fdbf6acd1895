"""Point-in-time retrieval: each feature as it was known at the timestamp, never a value from after it."""

from __future__ import annotations

from datetime import date

import duckdb
import numpy as np
import pandas as pd
import pytest

from featurecast.errors import NotReadyError
from featurecast.features import FeatureLookupError, get_historical_features
from tests.python.conftest import make_settings

# Bars of AAA on Mon 2024-01-08 .. Fri 2024-01-12 (value = day of month), BBB only until Wed 01-10.
BARS = [("AAA", date(2024, 1, d), float(d)) for d in range(8, 13)] + [
    ("BBB", date(2024, 1, d), 100.0 + d) for d in range(8, 11)
]


@pytest.fixture()
def settings(tmp_path):
    settings = make_settings(tmp_path)
    con = duckdb.connect(str(settings.warehouse_path))
    con.execute("create schema marts")
    con.execute("create table marts.fct_daily_features (symbol varchar, date date, ret_21d double, rsi_14 double)")
    con.executemany("insert into marts.fct_daily_features values (?, ?, ?, ?)", [(s, d, v, -v) for s, d, v in BARS])
    con.execute("create table marts.fct_market_features (date date, mkt_vol_21d double)")
    con.executemany(
        "insert into marts.fct_market_features values (?, ?)", [(date(2024, 1, d), d / 100) for d in range(8, 13)]
    )
    con.close()
    return settings


def fetch(settings, rows, features=("ret_21d",), **options) -> pd.DataFrame:
    entities = pd.DataFrame(rows, columns=["symbol", "timestamp"])
    return get_historical_features(entities, list(features), settings=settings, **options)


def test_a_bar_is_known_from_its_close_in_new_york(settings) -> None:
    got = fetch(
        settings,
        [
            ("AAA", "2024-01-10 15:59"),  # before Wednesday's close: Tuesday's bar
            ("AAA", "2024-01-10 16:00"),  # at the close: Wednesday's
            ("AAA", "2024-01-13 09:00"),  # Saturday: Friday's bar
            ("AAA", "2024-01-08 10:00"),  # before the first bar's close: nothing
        ],
    )
    assert got["ret_21d"].tolist()[:3] == [9.0, 10.0, 12.0] and np.isnan(got["ret_21d"].iloc[3])
    assert got["feature_date"].tolist()[:3] == [date(2024, 1, d) for d in (9, 10, 12)]
    assert pd.isna(got["feature_date"].iloc[3])
    # Aware timestamps are converted to New York time: 20:59 UTC is 15:59 there, 21:00 UTC is the close.
    utc = fetch(settings, [("AAA", "2024-01-10 20:59:00+00:00"), ("AAA", "2024-01-10 21:00:00+00:00")])
    assert utc["ret_21d"].tolist() == [9.0, 10.0]


def test_at_close_reads_dates_as_after_that_days_close(settings) -> None:
    got = fetch(settings, [("AAA", "2024-01-10"), ("AAA", "2024-01-10")], at_close=True)
    assert got["ret_21d"].tolist() == [10.0, 10.0]
    assert fetch(settings, [("AAA", "2024-01-10")])["ret_21d"].tolist() == [9.0]  # midnight: before the open


def test_max_age_nulls_values_whose_bar_is_too_old(settings) -> None:
    rows = [("BBB", "2024-01-11 17:00"), ("BBB", "2024-01-15 17:00"), ("AAA", "2024-01-15 17:00")]
    got = fetch(settings, rows, features=("ret_21d", "mkt_vol_21d"), max_age="2D")
    assert got["ret_21d"].tolist()[0] == 110.0  # Wednesday's bar, 25 hours old
    assert np.isnan(got["ret_21d"].iloc[1]) and np.isnan(got["ret_21d"].iloc[2])  # 5 and 3 days old
    assert got["mkt_vol_21d"].tolist()[0] == pytest.approx(0.11) and np.isnan(got["mkt_vol_21d"].iloc[1])
    assert got["feature_date"].tolist()[1] == date(2024, 1, 10)  # the bar that exists, too old to use


def test_no_value_from_after_the_timestamp_can_appear(settings) -> None:
    rng = np.random.default_rng(0)
    stamps = pd.Timestamp("2024-01-07") + pd.to_timedelta(rng.integers(0, 8 * 24 * 60, 500), unit="min")
    symbols = rng.choice(["AAA", "BBB"], 500)
    got = fetch(settings, list(zip(symbols, stamps, strict=True)), features=("ret_21d", "rsi_14", "mkt_vol_21d"))
    known = got.dropna(subset=["feature_date"])
    available = pd.to_datetime(known["feature_date"]) + pd.Timedelta(hours=16)
    assert (available <= pd.to_datetime(known["timestamp"])).all()
    # and it is the newest such bar: the value equals the day of month of the bar it came from
    aaa = known[known["symbol"] == "AAA"]
    assert (aaa["ret_21d"] == pd.to_datetime(aaa["feature_date"]).dt.day).all()
    assert (known["rsi_14"] == -known["ret_21d"]).all()
    assert len(got) == 500 and got["symbol"].tolist() == symbols.tolist()  # every row, in order


def test_unknown_names_get_near_matches_and_arrow_is_available(settings) -> None:
    with pytest.raises(FeatureLookupError, match=r"'ret21d' \(did you mean ret_21d"):
        fetch(settings, [("AAA", "2024-01-10 17:00")], features=("ret21d",))
    with pytest.raises(FeatureLookupError, match=r"unknown symbol\(s\): 'AAB' \(did you mean AAA"):
        fetch(settings, [("AAB", "2024-01-10 17:00")])
    with pytest.raises(FeatureLookupError, match="missing: timestamp"):
        get_historical_features(pd.DataFrame({"symbol": ["AAA"]}), ["ret_21d"], settings=settings)
    table = fetch(settings, [("aaa", "2024-01-10 17:00")], as_arrow=True)
    assert table.column("ret_21d").to_pylist() == [10.0] and table.num_rows == 1


def test_no_warehouse_is_not_ready(tmp_path) -> None:
    with pytest.raises(NotReadyError, match="no warehouse"):
        fetch(make_settings(tmp_path), [("AAA", "2024-01-10 17:00")])


@pytest.mark.dbt
def test_the_catalogue_lists_every_feature_of_the_marts_from_the_manifest(clean_warehouse) -> None:
    from featurecast.features import list_features

    catalogue = list_features(clean_warehouse.settings).set_index("name")
    con = duckdb.connect(str(clean_warehouse.path), read_only=True)
    try:
        columns = {r[0] for r in con.execute("describe marts.fct_daily_features").fetchall()}
    finally:
        con.close()
    assert set(catalogue[catalogue["mart"] == "marts.fct_daily_features"].index) <= columns
    assert catalogue.loc["ret_21d", "family"] == "returns" and catalogue.loc["ret_21d", "lookback_rows"] == 22
    assert catalogue.loc["mkt_vol_21d", "mart"] == "marts.fct_market_features"
    assert catalogue["description"].str.len().min() > 10 and len(catalogue) >= 70
