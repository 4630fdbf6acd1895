"""Real daily OHLCV, end to end: three real series that ship inside packages on the index, imported through
the CSV path exactly as a user would, built, trained on, labelled and forecast.

The data (test-only dependencies, nothing downloaded at run time):
- ^GSPC and ^IXIC: the S&P 500 and NASDAQ Composite from Yahoo (arch.data, 1999-2018, M/D/YYYY dates,
  gzip), cut to 2005-2014 for CI: the 2008 crash included;
- GOOG: Google's daily bars 2004-08-19 .. 2013-03-01 (backtesting.test; its date column has no header).
GOOG ends in March 2013, before the indices: a symbol whose feed ended.
"""

from __future__ import annotations

import gzip
import importlib.util
from dataclasses import replace
from datetime import date
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from dbt_project.runner import build
from featurecast.marketdata.service import MarketDataService
from tests.python.conftest import make_settings

pytestmark = pytest.mark.dbt

INDEX_START, INDEX_END = date(2005, 1, 1), date(2014, 12, 31)
# Genuine moves a guardrail must not quarantine: the S&P 500's largest daily gain (+11.6 %) and the
# crash days around it, and the first session after September 11, 2001 (outside the cut, so: 2008).
GENUINE_MOVES = [("^GSPC", date(2008, 10, 13)), ("^GSPC", date(2008, 10, 15)), ("^IXIC", date(2008, 10, 13))]


def package_file(package: str, *parts: str) -> Path:
    """A data file inside an installed package, located without importing it."""
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, f"{package} is a test dependency"
    return Path(spec.submodule_search_locations[0], *parts)


def cut_yahoo_index(source: Path, target: Path) -> Path:
    """The package's own gzip CSV, lines outside the CI window dropped, everything else byte for byte."""
    with gzip.open(source, "rt") as handle:
        header, *lines = handle.read().splitlines()
    kept = [line for line in lines if INDEX_START <= pd.Timestamp(line.split(",")[0]).date() <= INDEX_END]
    with gzip.open(target, "wt") as handle:
        handle.write("\n".join([header, *kept]) + "\n")
    return target


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    directory = tmp_path_factory.mktemp("real")
    settings = replace(make_settings(directory), market_series="^GSPC")
    service = MarketDataService(settings)
    spx = cut_yahoo_index(package_file("arch", "data", "sp500", "sp500.csv.gz"), directory / "sp500.csv.gz")
    ixic = cut_yahoo_index(package_file("arch", "data", "nasdaq", "nasdaq.csv.gz"), directory / "nasdaq.csv.gz")
    goog = package_file("backtesting", "test", "GOOG.csv")
    reports = [
        service.ingest_csv([spx], symbol="^GSPC"),
        service.ingest_csv([ixic], symbol="^IXIC", has_volume=False),
        service.ingest_csv([goog]),
    ]
    summary = build(settings)
    return settings, reports, summary


def query(settings, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_every_real_bar_is_accounted_for(real) -> None:
    settings, reports, summary = real
    assert summary.success and not summary.failed
    landed = {r.symbols[0]: r.rows_inserted for r in reports}
    assert landed["GOOG"] == 2148 and landed["^GSPC"] > 2000 and landed["^IXIC"] > 2000
    rows = query(settings, "select symbol, bars, feature_bars, quarantined_bars from marts.dim_symbols order by 1")
    for symbol, bars, in_features, quarantined in rows:
        assert bars == landed[symbol] == in_features + quarantined, symbol


def test_no_genuine_move_is_quarantined(real) -> None:
    settings, _, _ = real
    for symbol, day in GENUINE_MOVES:
        assert query(
            settings, "select count(*) from marts.fct_price_quarantine where symbol = ? and date = ?", [symbol, day]
        ) == [(0,)], (symbol, day)
        assert query(
            settings, "select count(*) from marts.fct_daily_features where symbol = ? and date = ?", [symbol, day]
        ) == [(1,)], (symbol, day)
    assert query(settings, "select count(*) from marts.fct_price_quarantine where rule = 'non_trading_day'") == [(0,)]


def test_index_volume_never_becomes_a_feature(real) -> None:
    settings, _, _ = real
    classified = dict(query(settings, "select symbol, volume_basis from marts.dim_symbols where not has_volume"))
    assert classified == {"^GSPC": "index_symbol", "^IXIC": "declared"}
    volume_features = "volume_z_21d, volume_z_63d, volume_ratio_5_21, log_dollar_volume_21d, amihud_illiquidity_21d"
    for symbol, expect_values in [("^GSPC", False), ("^IXIC", False), ("GOOG", True)]:
        (non_null,) = query(
            settings,
            f"select count(*) from marts.fct_daily_features where symbol = ? and coalesce({volume_features}) "
            "is not null",
            [symbol],
        )[0]
        assert (non_null > 1000) is expect_values, symbol
    assert query(settings, "select distinct volume_status from marts.fct_daily_features where symbol = '^GSPC'") == [
        ("no_volume_symbol",)
    ]


def test_a_small_universe_is_explicit_and_the_benchmark_is_the_market(real) -> None:
    settings, _, summary = real
    assert "guardrail_small_universe" in {n.name for n in summary.warned}
    assert query(settings, "select count(*) from marts.fct_daily_features where cs_rank_ret_5d is not null") == [(0,)]
    assert query(
        settings, "select bool_and(is_small_universe), any_value(market_series) from marts.fct_market_features"
    ) == [(True, "^GSPC")]
    (betas,) = query(
        settings,
        "select count(beta_63d) filter (where symbol = '^GSPC'), count(beta_63d) filter (where symbol = 'GOOG') "
        "from marts.fct_daily_features",
    )
    assert betas[0] == 0 and betas[1] > 1000  # never the benchmark against itself


def test_the_pipeline_runs_on_real_data_and_an_ended_symbol_keeps_its_signal(real) -> None:
    from featurecast.api.services import MLSignalService
    from featurecast.api.services.common import UnknownSymbolError
    from featurecast.api.snapshot import SnapshotStore
    from flows.publish import publish_snapshot
    from ml.forecasts.issue import issue_forecasts
    from ml.regimes.refresh import refresh_regimes
    from ml.regimes.store import open_store
    from ml.signals.score import score_latest
    from ml.signals.train import train_signal_models

    settings, _, _ = real
    (trained,) = train_signal_models(
        settings.warehouse_path, settings.models_dir, families=("lightgbm",), promote_best=True
    )
    assert 0.4 < trained.metrics["model"]["auc"] < 0.6
    # NaN: one name a day (the two indices are benchmarks, never training rows)
    assert trained.metrics["model"]["rank_ic"] != trained.metrics["model"]["rank_ic"]
    score_latest(settings.warehouse_path, last_dates=21)
    store, client = open_store(None, settings.regime_store_dir)
    try:
        report = refresh_regimes(settings.warehouse_path, store)
    finally:
        client.close()
    assert report.days_written > 2000 and report.latest_date.startswith("2014-12")
    assert issue_forecasts(settings.warehouse_path).forecasts > 0
    publish_snapshot(settings.warehouse_path, settings.serving_dir)
    service = MLSignalService(SnapshotStore(settings.serving_dir, check_interval=0.0), today=lambda: INDEX_END)
    signal = service.signal("GOOG")
    assert signal.stale and signal.as_of == date(2013, 3, 1)
    assert any("GOOG's feed is" in reason for reason in signal.stale_reasons)
    # an index is a benchmark: a market input, never a signal
    with pytest.raises(UnknownSymbolError):
        service.signal("^GSPC")
