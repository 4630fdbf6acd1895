"""Real close-only data, end to end, imported as the README tells a user: the adjusted closes of 20 large US
stocks 1990-2022 in one wide file (a date column and a column per symbol) and the S&P 500 index close, both
shipped inside skfolio (a test-only dependency: skfolio/datasets/data/*.csv.gz, located without importing it,
nothing downloaded). The index is the market series, so it is a benchmark.

What each real case gets (issue 29):
- the wide file and the index file (`Date,SP500`): imported, "read as a wide file" on stdout;
- one stock as `Date,Adj Close` (a long close-only file): imported as close-only bars;
- a file with neither a close nor tickers: exit 2, one line naming the file, its columns and the layouts;
- close-only bars: range features NULL (never 0), price_fields close_only, dim_symbols and the summary say why;
- RRC's 69 sessions at 3.322 from 1990-01-02: stale from the 21st bar on, "69 sessions" on the last;
- the large caps' runs of 5-6 equal closes from the 1/8-tick era: not stale;
- the BBY 2014-01-16, MRK 2004-09-30 and UNH 1998-08-06 crashes: kept in the features, a warning;
- RRC 1990-04-10, 3.322 -> 1.107: a warning explaining it as an unadjusted 3:1 split;
- every feature: inside its catalogue range (the generated test passes);
- the benchmark SP500: features kept; no training row, signal, cross-sectional rank or holding;
- training on those marts (nine range and five volume features NULL on every row) and the backtest after
  it: both run, over the 20 stocks only.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.util
import io
from datetime import date
from pathlib import Path

import duckdb
import pytest

from ml.signals.dataset import scoring_frame
from tests.python.conftest import run

pytestmark = pytest.mark.dbt

GENUINE_CRASHES = [("BBY", date(2014, 1, 16)), ("MRK", date(2004, 9, 30)), ("UNH", date(1998, 8, 6))]
RANGE_FEATURES = [
    "hl_log_range",
    "parkinson_vol_21d",
    "garman_klass_vol_21d",
    "atr_14_pct",
    "kbar_body",
    "kbar_upper_shadow",
    "kbar_lower_shadow",
    "close_location",
    "stochastic_k_21",
]


def skfolio_file(name: str) -> Path:
    spec = importlib.util.find_spec("skfolio")
    assert spec is not None and spec.submodule_search_locations, "skfolio is a test dependency"
    return Path(spec.submodule_search_locations[0], "datasets", "data", name)


def typed(argv: list[str]) -> tuple[int, str, str]:
    """`featurecast ARGV` in this process, as typed: (exit code, stdout, stderr)."""
    from featurecast.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
    return int(code or 0), out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Import and build exactly as the README's close-only section says; the outputs are kept for the tests."""
    directory = tmp_path_factory.mktemp("close_only")
    data = directory / "data"
    patch = pytest.MonkeyPatch()
    patch.setenv("FEATURECAST_DATA_DIR", str(data))
    patch.delenv("FEATURECAST_WAREHOUSE", raising=False)
    patch.setenv("FEATURECAST_MARKET_SERIES", "SP500")
    patch.chdir(directory)
    try:
        outputs = {
            "stocks": typed(["ingest", "csv", str(skfolio_file("sp500_dataset.csv.gz"))]),
            "index": typed(["ingest", "csv", str(skfolio_file("sp500_index.csv.gz"))]),
            "build": typed(["build"]),
        }
        yield directory, data, outputs
    finally:
        patch.undo()


def query(data: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def test_wide_files_import_as_typed_and_say_how_they_were_read(built) -> None:
    _, data, outputs = built
    code, out, err = outputs["stocks"]
    assert code == 0, err
    assert "sp500_dataset.csv.gz: read as a wide file, one close per symbol and date (20 symbols" in out
    assert "166260 inserted" in out
    code, out, err = outputs["index"]
    assert code == 0, err
    assert "(1 symbols: SP500)" in out
    assert query(data, "select count(distinct symbol), count(*) from raw.daily_ohlcv where open is null") == [
        (21, 8313 * 21)
    ]


def test_a_long_close_only_file_imports_and_a_file_of_no_layout_is_refused_by_name(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FEATURECAST_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("FEATURECAST_WAREHOUSE", raising=False)
    with gzip.open(skfolio_file("sp500_dataset.csv.gz"), "rt") as handle:
        header, *rows = handle.read().splitlines()
    aapl = header.split(",").index("AAPL")
    long_file = tmp_path / "AAPL.csv"
    long_file.write_text("Date,Adj Close\n" + "\n".join(f"{r.split(',')[0]},{r.split(',')[aapl]}" for r in rows[:300]))
    code, out, err = run(["ingest", "csv", str(long_file)], capsys)
    assert code == 0, err
    assert "AAPL.csv: read as close-only bars (AAPL)" in out and "300 inserted" in out

    odd = tmp_path / "prices.csv"
    odd.write_text("when,what,how much\n2020-01-02,AAPL,1\n")
    code, out, err = run(["ingest", "csv", str(odd)], capsys)
    assert code == 2 and out == ""
    line = err.strip()
    assert "\n" not in line
    assert "prices.csv" in line and "'when', 'what', 'how much'" in line
    assert "found columns 'when', 'what', 'how much'; unknown column(s) 'when', 'what', 'how much'" in line
    assert "close-only (date, close or adj close" in line and "featurecast ingest csv FILE --wide" in line


def test_close_only_bars_have_no_range_features_and_say_why(built) -> None:
    _, data, outputs = built
    assert outputs["build"][0] == 0, outputs["build"][2][-2000:]
    assert query(data, "select distinct price_fields from marts.fct_daily_features") == [("close_only",)]
    non_null = query(data, f"select {', '.join(f'count({c})' for c in RANGE_FEATURES)} from marts.fct_daily_features")
    assert non_null == [tuple(0 for _ in RANGE_FEATURES)]
    # the close-based features are there
    assert query(data, "select count(vol_21d) > 150000, count(rsi_14) > 150000 from marts.fct_daily_features") == [
        (True, True)
    ]
    reasons = dict(query(data, "select symbol, unavailable_features from marts.dim_symbols"))
    assert reasons["AAPL"].startswith("range (close-only source, no open/high/low: ")
    assert "kbar_body" in reasons["AAPL"] and "volume (no traded volume" in reasons["AAPL"]
    assert "market-relative" in reasons["SP500"]
    summary = outputs["build"][1]
    assert "features unavailable:" in summary and "range (close-only source" in summary


def test_staleness_needs_a_run_the_symbol_makes_implausible(built) -> None:
    _, data, _ = built
    stale = query(
        data,
        "select symbol, min(date), max(date), count(*) from marts.fct_price_quarantine where rule = 'stale_price' "
        "group by symbol",
    )
    # only RRC's dead run at the start of the file: no large cap's 1/8-tick runs of 5-6 equal closes
    assert stale == [("RRC", date(1990, 1, 30), date(1990, 4, 9), 49)]
    (detail,) = query(
        data, "select details from marts.fct_price_quarantine where symbol = 'RRC' and date = '1990-04-09'"
    )[0]
    assert detail.startswith("close 3.322 unchanged for 69 sessions since 1990-01-02")


def test_crashes_stay_and_the_split_like_bar_is_explained(built) -> None:
    _, data, _ = built
    spikes = query(
        data,
        "select symbol, date, action, details from marts.fct_price_quarantine where rule = 'return_spike' "
        "order by date",
    )
    found = {(s, d): (a, t) for s, d, a, t in spikes}
    for key in GENUINE_CRASHES:
        action, details = found.pop(key)
        assert action == "recorded" and "a genuine move, kept" in details, key
        assert query(
            data, "select count(*) from marts.fct_daily_features where symbol = ? and date = ?", list(key)
        ) == [(1,)]
    action, details = found.pop(("RRC", date(1990, 4, 10)))
    assert action == "recorded" and "matches a 3.0:1 split left unadjusted" in details
    # the false-alarm count on this data: no other spike finding, and no genuine move quarantined
    assert found == {}
    assert query(
        data,
        "select count(*) from marts.fct_price_quarantine where rule = 'return_spike' and action "
        "= 'excluded_from_features'",
    ) == [(0,)]


def test_features_stay_in_their_documented_ranges(built) -> None:
    _, data, outputs = built
    assert "feature_ranges_fct_daily_features" not in outputs["build"][2]
    assert query(data, "select max(high_recency_63d) <= 1, min(drawdown_252d) >= -1 from marts.fct_daily_features") == [
        (True, True)
    ]


def test_the_benchmark_keeps_its_features_but_is_never_held(built) -> None:
    _, data, _ = built
    assert query(data, "select role, role_basis, is_tradable from marts.dim_symbols where symbol = 'SP500'") == [
        ("benchmark", "market_series", False)
    ]
    assert query(data, "select count(*) > 8000 from marts.fct_daily_features where symbol = 'SP500'") == [(True,)]
    assert query(data, "select count(*) from marts.fct_training_set where symbol = 'SP500'") == [(0,)]
    assert query(data, "select count(distinct symbol) from marts.fct_training_set") == [(20,)]
    assert query(
        data, "select count(*) from marts.fct_daily_features where symbol = 'SP500' and cs_rank_ret_5d is not null"
    ) == [(0,)]
    assert query(data, "select max(holdings) from marts.fct_portfolio_daily where portfolio = 'equal_weight'") == [
        (20,)
    ]
    assert query(data, "select max(n_symbols), count(avg_correlation_63d) > 8000 from marts.fct_market_features") == [
        (20, True)
    ]
    scored = scoring_frame(data / "warehouse.duckdb", 5)
    assert "SP500" not in set(scored["symbol"]) and scored["symbol"].nunique() == 20


def test_training_takes_the_null_columns_and_the_backtest_never_trades_the_benchmark(built) -> None:
    """LightGBM on the close-only training set: the range and volume features are NULL on every row and
    stay in the feature list (a missing value to the model, no split). Walk-forward over the last years
    only (two folds, five years of training each) to keep the suite fast; the metrics are not asserted,
    they are what they are on 20 stocks (docs/signals.md)."""
    from ml.backtest.run import run_backtest
    from ml.signals.cv import WalkForward
    from ml.signals.dataset import feature_columns
    from ml.signals.train import train_signal_models

    _, data, _ = built
    warehouse = data / "warehouse.duckdb"
    features = feature_columns(warehouse)
    assert set(RANGE_FEATURES) <= set(features) and "volume_z_21d" in features
    cv = WalkForward(n_folds=2, test_fraction=0.1, embargo_dates=5, max_train_dates=1260)
    (trained,) = train_signal_models(warehouse, data / "models", families=("lightgbm",), cv=cv, promote_best=True)
    assert trained.metrics["model"]["n"] > 1000
    report = run_backtest(warehouse, samples=100)
    predicted = query(
        data,
        "select count(distinct symbol), count(*) filter (where symbol = 'SP500') from ml.oof_predictions "
        "where model_version = ?",
        [trained.version],
    )
    traded = query(
        data,
        "select count(distinct symbol), count(*) filter (where symbol = 'SP500') from ml.backtest_trades "
        "where run_id = ?",
        [report.run_id],
    )
    assert predicted == [(20, 0)]
    assert traded[0][0] > 0 and traded[0][1] == 0
