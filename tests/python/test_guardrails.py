"""Anomaly guardrails: every rule fires on its injected defect, by name, and stays quiet on clean data.

| defect (how it gets in)                         | caught by                                   | effect            |
| OHLC inconsistency (feed)                       | guardrail_ohlc_consistency                  | build fails       |
| non-positive price (another loader)             | guardrail_positive_*                        | build fails       |
| duplicate (symbol, date, source) (other loader) | guardrail_duplicate_symbol_date_source      | build fails       |
| bar dated in the future (other loader)          | guardrail_future_date                       | build fails       |
| exact duplicate rows (feed)                     | the loader: collapsed and counted           | one row lands     |
| price spike / bad print                         | return_spike + guardrail_return_spikes      | quarantined, warn |
| stale price run                                 | stale_price + guardrail_stale_prices        | quarantined, warn |
| volume spike                                    | volume_anomaly + guardrail_volume_anomalies | recorded, warn    |
| missing session (gap)                           | missing_session + guardrail_missing_sessions| recorded, warn    |
| symbol whose feed stopped                       | dim_symbols.is_stale + guardrail_symbol_freshness | warn        |
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from datetime import date

import duckdb
import pandas as pd
import pytest

from dbt_project.runner import DbtBuildError, build
from featurecast.marketdata.landing import land, release_quarantine
from featurecast.marketdata.synthetic import DefectSpec, SyntheticSpec, generate, inject_defects
from tests.python.conftest import make_settings, read_table

pytestmark = pytest.mark.dbt

STATISTICAL_RULES = {
    "guardrail_return_spikes",
    "guardrail_stale_prices",
    "guardrail_volume_anomalies",
    "guardrail_missing_sessions",
    "guardrail_symbol_freshness",
}


def keys(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return {(s, str(pd.Timestamp(d).date())) for s, d in zip(frame["symbol"], frame["date"], strict=True)}


# On clean synthetic data the statistical rules may still fire on genuinely extreme moves (the
# generator's GARCH-t tails produce the odd 20+ robust-sd crash, as real markets do). The bound below is
# the false-positive rate we accept; `bench/guardrails.py` measures it on 500 symbols x 10 years.
MAX_CLEAN_FINDINGS_PER_BAR = 1 / 2000


def findings(warehouse) -> dict[str, set[tuple[str, str]]]:
    quarantine = warehouse.table("marts.fct_price_quarantine", order="symbol, date, rule")
    return {rule: keys(group) for rule, group in quarantine.groupby("rule")}


def test_clean_data_passes_every_structural_rule_and_is_nearly_quiet(clean_warehouse) -> None:
    summary = clean_warehouse.summary
    assert summary.success, summary.describe_failures()
    assert summary.failed == []
    assert {n.name for n in summary.nodes} >= STATISTICAL_RULES
    bars = len(clean_warehouse.prices)
    for rule, found in findings(clean_warehouse).items():
        assert rule == "return_spike", f"{rule} fired on clean data: {sorted(found)[:3]}"
        assert len(found) / bars <= MAX_CLEAN_FINDINGS_PER_BAR
    assert not clean_warehouse.table("marts.dim_symbols", order="symbol")["is_stale"].any()


def test_each_rule_catches_exactly_its_injected_defect(defect_warehouse, clean_warehouse) -> None:
    """Findings on defective data = findings on the same data without defects + the injected defects."""
    summary = defect_warehouse.summary
    assert summary.success and summary.failed == []
    assert {
        "guardrail_return_spikes",
        "guardrail_stale_prices",
        "guardrail_volume_anomalies",
        "guardrail_missing_sessions",
    } <= {n.name for n in summary.warned}
    found = findings(defect_warehouse)
    baseline = findings(clean_warehouse)
    log = defect_warehouse.defects
    injected = {kind: keys(group) for kind, group in log.groupby("defect")}

    assert set(found) == {"return_spike", "missing_session", "volume_anomaly", "stale_price"}
    # Spikes: the bad prints, not the bars that revert them.
    assert found["return_spike"] == baseline.get("return_spike", set()) | injected["spike"]
    assert found["missing_session"] == injected["gap"]
    assert found["volume_anomaly"] == injected["volume_spike"]
    # Stale runs are flagged from their var('stale_price_sessions')-th identical close on (point in
    # time: the first bars of a flat run look like any repeated price), and every run is caught.
    assert found["stale_price"] <= injected["stale"]
    assert {s for s, _ in found["stale_price"]} == {s for s, _ in injected["stale"]}

    quarantine = defect_warehouse.table("marts.fct_price_quarantine", order="symbol, date, rule")
    actions = dict(zip(quarantine["rule"], quarantine["action"], strict=False))
    assert actions["return_spike"] == actions["stale_price"] == "excluded_from_features"
    assert actions["volume_anomaly"] == actions["missing_session"] == "recorded"
    spikes = quarantine[quarantine["rule"] == "return_spike"]
    assert (spikes["observed_value"].abs() > spikes["threshold"]).all()
    assert ((spikes["expected_low"] < 0) & (spikes["expected_high"] > 0)).all()
    assert spikes["details"].str.contains("robust sd from its trailing median over 63 sessions").all()


def test_exact_duplicates_are_collapsed_at_the_door(defect_warehouse) -> None:
    assert (
        defect_warehouse.load_report.duplicates_collapsed == (defect_warehouse.defects["defect"] == "duplicate").sum()
    )


def test_features_never_use_a_quarantined_price(defect_warehouse) -> None:
    quarantine = defect_warehouse.table("marts.fct_price_quarantine")
    excluded = keys(quarantine[quarantine["action"] == "excluded_from_features"])
    assert excluded
    for mart in ("marts.fct_daily_features", "marts.fct_daily_labels", "marts.fct_training_set"):
        assert not keys(defect_warehouse.table(mart)) & excluded, mart
    # And no feature row's return crosses a bad print: the largest clean daily move stays plausible.
    features = defect_warehouse.table("marts.fct_daily_features")
    assert features["ret_1d"].abs().max() < 0.5
    symbols = defect_warehouse.table("marts.dim_symbols", order="symbol")
    assert symbols["quarantined_bars"].sum() == len(excluded)


@pytest.fixture(scope="module")
def structural_failure(tmp_path_factory):
    """A warehouse whose feed has OHLC errors, and which another loader wrote bad rows into."""
    settings = make_settings(tmp_path_factory.mktemp("structural"))
    prices, _log = inject_defects(
        generate(SyntheticSpec(n_symbols=4, years=1.0, seed=5)).prices,
        DefectSpec(gaps=0, spikes=0, volume_spikes=0, stale_runs=0, ohlc_inconsistent=2, duplicates=0),
    )
    land(settings.warehouse_path, prices, source="synthetic")
    con = duckdb.connect(str(settings.warehouse_path))
    con.execute("insert into raw.daily_ohlcv select * from raw.daily_ohlcv where symbol = 'SYN001' limit 1")
    con.execute("""insert into raw.daily_ohlcv select * replace (date '2099-01-02' as date)
                   from raw.daily_ohlcv where symbol = 'SYN002' limit 1""")
    con.execute(
        "update raw.daily_ohlcv set close = 0, low = 0 where symbol = 'SYN003' and date = "
        "(select max(date) from raw.daily_ohlcv where symbol = 'SYN003' and date < '2099-01-01')"
    )
    con.close()
    with pytest.raises(DbtBuildError) as caught:
        build(settings)
    return caught.value


def test_structural_failures_fail_the_build_and_name_their_rule(structural_failure) -> None:
    failed = {n.name for n in structural_failure.summary.failed}
    assert {
        "guardrail_ohlc_consistency",
        "guardrail_duplicate_symbol_date_source",
        "guardrail_future_date",
        "guardrail_positive_close",
        "guardrail_positive_low",
    } <= failed
    message = str(structural_failure)
    assert "guardrail_ohlc_consistency" in message and "(2 rows)" in message


def test_a_structural_failure_stops_everything_downstream(structural_failure) -> None:
    statuses = {n.name: n.status for n in structural_failure.summary.nodes}
    for model in ("int_prices_checked", "int_symbol_features_computed", "fct_daily_features", "fct_training_set"):
        assert statuses[model] == "skipped", model


def test_a_symbol_whose_feed_stopped_is_stale(tmp_path) -> None:
    # Two names are a full universe here (the stopped feed leaves two on its last five sessions), so the
    # only warning is the stopped feed itself.
    settings = replace(make_settings(tmp_path), min_universe_symbols=2)
    prices = generate(SyntheticSpec(n_symbols=3, years=1.0, seed=9)).prices
    last = sorted(prices["date"].unique())
    prices = prices[~((prices["symbol"] == "SYN001") & (prices["date"] > last[-6]))]
    land(settings.warehouse_path, prices, source="synthetic")
    summary = build(settings, select="+dim_symbols +guardrail_symbol_freshness")
    assert {n.name for n in summary.warned} == {"guardrail_symbol_freshness"}
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    stale = con.execute("select symbol, sessions_behind from marts.dim_symbols where is_stale").fetchall()
    assert stale == [("SYN001", 5)]


@pytest.fixture()
def clean_copy(clean_warehouse, tmp_path):
    """Settings for a private copy of the clean warehouse, to change without disturbing other tests."""
    settings = make_settings(tmp_path)
    shutil.copy(clean_warehouse.path, settings.warehouse_path)
    return settings


def test_a_released_bar_returns_to_the_features(clean_warehouse, clean_copy) -> None:
    """An operator reviews a quarantined crash, releases it, and the incremental build takes it back in."""
    spikes = findings(clean_warehouse).get("return_spike")
    assert spikes, "the clean fixture universe has a genuine crash to review"
    symbol, day = sorted(spikes)[0]
    settings = clean_copy
    release_quarantine(
        settings.warehouse_path,
        symbol,
        pd.Timestamp(day).date(),
        "return_spike",
        reason="earnings crash, confirmed on the exchange tape",
        released_by="test",
    )
    build(settings)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    action, details = con.execute(
        "select action, details from marts.fct_price_quarantine "
        "where symbol = ? and date = ? and rule = 'return_spike'",
        [symbol, day],
    ).fetchone()
    assert action == "released" and "earnings crash" in details
    assert (
        con.execute(
            "select count(*) from marts.fct_daily_features where symbol = ? and date = ?", [symbol, day]
        ).fetchone()[0]
        == 1
    )
    incremental = con.execute("select * from marts.fct_daily_features order by symbol, date").df()
    con.close()
    build(settings, full_refresh=True)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    full = con.execute("select * from marts.fct_daily_features order by symbol, date").df()
    con.close()
    pd.testing.assert_frame_equal(
        incremental.drop(columns="source_loaded_at"),
        full.drop(columns="source_loaded_at"),
        check_exact=False,
        rtol=1e-9,
        atol=1e-12,
    )


def test_release_rejects_unknown_bars_and_rules(clean_copy) -> None:
    settings = clean_copy
    with pytest.raises(ValueError, match="NOPE 2024-01-02 was never flagged by return_spike"):
        release_quarantine(
            settings.warehouse_path,
            "NOPE",
            pd.Timestamp("2024-01-02").date(),
            "return_spike",
            reason="x",
            released_by="t",
        )
    with pytest.raises(ValueError, match="rule must be one of"):
        release_quarantine(
            settings.warehouse_path,
            "SYN001",
            pd.Timestamp("2024-01-02").date(),
            "no_such_rule",
            reason="x",
            released_by="t",
        )


def small_market(symbols: int = 2, seed: int = 3) -> pd.DataFrame:
    return generate(SyntheticSpec(n_symbols=symbols, years=1.0, seed=seed)).prices


def test_staleness_means_a_repeated_bar_not_a_rounded_close(tmp_path) -> None:
    """A busy low-priced stock quoted to a coarse tick repeats its close while its range moves: kept.
    A feed that repeats its whole bar is quarantined."""
    settings = make_settings(tmp_path)
    prices = small_market()
    rounded = prices["symbol"] == "SYN000"
    rows = prices.index[rounded][100:110]
    prices.loc[rows, ["close", "adjusted_close"]] = 20.0
    prices.loc[rows, "open"] = 20.0
    prices.loc[rows, "high"] = [20.4 + 0.01 * i for i in range(len(rows))]
    prices.loc[rows, "low"] = [19.6 - 0.01 * i for i in range(len(rows))]
    repeated, log = inject_defects(
        prices, DefectSpec(gaps=0, spikes=0, volume_spikes=0, stale_runs=1, ohlc_inconsistent=0, duplicates=0)
    )
    land(settings.warehouse_path, repeated, source="synthetic")
    build(settings, select="+fct_price_quarantine")
    stale = read_table(settings.warehouse_path, "marts.fct_price_quarantine").query("rule == 'stale_price'")
    assert set(stale["symbol"]) == set(log["symbol"])
    flagged_rounded = stale[(stale["symbol"] == "SYN000") & stale["date"].isin(prices.loc[rows, "date"])]
    assert flagged_rounded.empty


def test_a_flat_bar_whose_volume_changes_is_a_session_and_a_repeated_one_is_not(tmp_path) -> None:
    """The 1986 case: bars with open = high = low = close for 40 sessions, a different volume every day
    (a thin stock that traded at one price), are kept. The same bar repeated with its volume is stale, and
    so is a close-only feed (no open, high, low) that repeats its close and volume; the detail gives the
    run's true length."""
    settings = make_settings(tmp_path)
    prices = small_market(3)
    by_symbol = {s: prices.index[prices["symbol"] == s] for s in ("SYN000", "SYN001", "SYN002")}
    flat = by_symbol["SYN000"][100:140]
    prices.loc[flat, ["open", "high", "low", "close", "adjusted_close"]] = 12.5
    prices.loc[flat, "volume"] = [12_000_000 + 1_000 * i for i in range(len(flat))]
    repeated = by_symbol["SYN001"][100:108]
    for column in ("open", "high", "low", "close", "adjusted_close", "volume"):
        prices.loc[repeated, column] = prices.loc[by_symbol["SYN001"][99], column]
    close_only = by_symbol["SYN002"]
    prices.loc[close_only, ["open", "high", "low"]] = float("nan")
    echoed = close_only[100:108]
    for column in ("close", "adjusted_close", "volume"):
        prices.loc[echoed, column] = prices.loc[close_only[99], column]
    land(settings.warehouse_path, prices, source="synthetic")
    build(settings, select="+fct_price_quarantine")
    stale = read_table(settings.warehouse_path, "marts.fct_price_quarantine").query("rule == 'stale_price'")
    assert "SYN000" not in set(stale["symbol"])
    for symbol, run in (("SYN001", repeated), ("SYN002", echoed)):
        flagged = stale[stale["symbol"] == symbol]
        # the run is the 8 repeats and the bar they repeat: 9 equal bars, stale from the 5th on
        assert [d.date() for d in flagged["date"]] == list(prices.loc[run[3:], "date"]), symbol
        assert flagged["details"].iloc[-1].startswith("bar (every price it gives, and its volume) repeated"), symbol
        assert "unchanged for 9 sessions since" in flagged["details"].iloc[-1], symbol


def test_every_rule_can_be_released_and_a_released_closure_opens_the_day(tmp_path) -> None:
    """A bar dated on a day the calendar calls closed is quarantined and named; after review the operator
    releases it, the day becomes a session, the bar reaches the features and the warning is gone."""
    settings = make_settings(tmp_path)
    prices = small_market(symbols=1)
    holiday = date(2026, 7, 3)  # Independence Day observed: the exchange was closed
    extra = prices[prices["date"] == prices["date"][prices["date"] < holiday].max()].assign(date=holiday)
    land(settings.warehouse_path, pd.concat([prices, extra], ignore_index=True), source="synthetic")
    first = build(settings)
    assert "guardrail_non_trading_days" in {n.name for n in first.warned}
    warned = next(n for n in first.warned if n.name == "guardrail_non_trading_days")
    assert warned.examples == ("SYN000 2026-07-03 non_trading_day",)
    release_quarantine(
        settings.warehouse_path,
        "SYN000",
        holiday,
        "non_trading_day",
        reason="the tape shows trades",
        released_by="test",
    )
    second = build(settings)
    assert "guardrail_non_trading_days" not in {n.name for n in second.warned}
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        assert con.execute(
            "select is_trading_day from marts.dim_trading_calendar where date = ?", [holiday]
        ).fetchone() == (True,)
        assert con.execute(
            "select count(*) from marts.fct_daily_features where symbol = 'SYN000' and date = ?", [holiday]
        ).fetchone() == (1,)
        bars, in_features, quarantined = con.execute(
            "select bars, feature_bars, quarantined_bars from marts.dim_symbols"
        ).fetchone()
    finally:
        con.close()
    assert bars == in_features == len(prices) + 1 and quarantined == 0


def test_a_structural_failure_names_the_offending_rows(tmp_path) -> None:
    """One bad bar among hundreds: the error names the rule, the symbol and the date."""
    settings = make_settings(tmp_path)
    prices, log = inject_defects(
        small_market(symbols=1),
        DefectSpec(gaps=0, spikes=0, volume_spikes=0, stale_runs=0, ohlc_inconsistent=1, duplicates=0),
    )
    land(settings.warehouse_path, prices, source="synthetic")
    with pytest.raises(DbtBuildError) as caught:
        build(settings, select="stg_market__daily_ohlcv+", quiet=True)
    bad = log.iloc[0]
    assert f"guardrail_ohlc_consistency: fail (1 rows): SYN000 {pd.Timestamp(bad['date']).date()}" in str(caught.value)


def test_a_non_finite_price_from_another_loader_fails_the_build(tmp_path) -> None:
    """The loader rejects inf at the door; a row some other writer puts in raw fails the build by name."""
    settings = make_settings(tmp_path)
    prices = small_market(symbols=1)
    land(settings.warehouse_path, prices, source="synthetic")
    con = duckdb.connect(str(settings.warehouse_path))
    con.execute(
        "insert into raw.daily_ohlcv select symbol, date + 1, open, 'inf'::double, low, close, volume, adjusted_close, "
        "dividend_amount, split_coefficient, 'other', batch_id, loaded_at from raw.daily_ohlcv "
        "where date = (select max(date) from raw.daily_ohlcv)"
    )
    con.close()
    with pytest.raises(DbtBuildError, match=r"guardrail_finite_high: fail \(1 rows\): SYN000"):
        build(settings, select="stg_market__daily_ohlcv", quiet=True)
