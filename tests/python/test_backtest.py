"""The backtest: timing (no look-ahead), frictions, the rules, hand-checked metrics, and the stored run."""

from __future__ import annotations

import math
import shutil
from datetime import datetime

import duckdb
import numpy as np
import pandas as pd
import pytest

from ml.backtest.engine import (
    StrategyConfig,
    apply_gates,
    buy_and_hold,
    buy_and_hold_book,
    rebalance,
    simulate,
    target_weights,
)
from ml.backtest.metrics import information_ratio, performance, sharpe, sharpe_difference_interval
from ml.backtest.run import BacktestInputs, run_books, selection_warnings
from ml.regimes.model import walk_forward_labels
from tests.python.conftest import make_settings

DATES = pd.bdate_range("2024-01-01", periods=8)


def frame(values: dict[str, list[float]]) -> pd.DataFrame:
    return pd.DataFrame(values, index=DATES[: len(next(iter(values.values())))])


def test_a_signal_at_t_fills_at_t_plus_1_and_never_earns_that_days_return():
    # B jumps 50% on session 3; a perfect-foresight signal for B is dated session 2.
    returns = frame({"A": [0.0] * 6, "B": [0.0, 0.0, 0.0, 0.5, 0.0, 0.0]})
    probability = frame({"A": [0.9, 0.9, 0.1, 0.9, 0.9, 0.9], "B": [0.1, 0.1, 0.9, 0.1, 0.1, 0.1]})
    config = StrategyConfig(k=1, rebalance_every=1, max_weight=1.0, cost_bps=0, slippage_bps=0)
    result = simulate(target_weights(probability, config), returns, config)
    # The fill for the signal dated session 2 happens at session 3's close: B is held over session 4, not 3.
    assert result.executed.loc[DATES[3], "B"] == 1.0
    assert result.daily["gross_return"].tolist() == [0.0] * 6
    # Had the fill been on the signal's own bar (look-ahead), the 50% jump would have been earned.
    leaky = target_weights(probability, config).shift(1).fillna(0.0)
    assert (leaky * returns).sum(axis=1).iloc[3] == 0.5


def test_held_weights_are_the_targets_of_two_sessions_earlier():
    rng = np.random.default_rng(3)
    returns = pd.DataFrame(rng.normal(0, 0.01, (8, 3)), index=DATES, columns=list("XYZ"))
    probability = pd.DataFrame(rng.uniform(size=(8, 3)), index=DATES, columns=list("XYZ"))
    config = StrategyConfig(k=1, rebalance_every=1, max_weight=1.0, cost_bps=0, slippage_bps=0)
    targets = target_weights(probability, config)
    result = simulate(targets, returns, config)
    expected = (targets.shift(2).fillna(0.0) * returns).sum(axis=1)
    np.testing.assert_allclose(result.daily["gross_return"], expected, atol=1e-15)


def test_costs_reduce_returns_by_turnover_times_basis_points():
    returns = frame({"A": [0.01] * 6, "B": [0.02] * 6})
    # Top-1 switches A -> B -> A on sessions 0, 2, 4: fills on sessions 1 (buy A: 1.0),
    # 3 (sell A, buy B: 2.0) and 5 (2.0).
    probability = frame({"A": [0.9, 0.9, 0.1, 0.1, 0.9, 0.9], "B": [0.1, 0.1, 0.9, 0.9, 0.1, 0.1]})
    free = StrategyConfig(k=1, rebalance_every=1, max_weight=1.0, cost_bps=0, slippage_bps=0)
    costly = StrategyConfig(k=1, rebalance_every=1, max_weight=1.0, cost_bps=7, slippage_bps=3)
    gross = simulate(target_weights(probability, free), returns, free).daily
    net = simulate(target_weights(probability, costly), returns, costly).daily
    assert net["turnover"].tolist() == [0.0, 1.0, 0.0, 2.0, 0.0, 2.0]
    np.testing.assert_allclose(gross["net_return"] - net["net_return"], net["turnover"] * 0.0010, atol=1e-15)
    assert net["cost"].sum() == pytest.approx(5.0 * 0.0010)
    trades = simulate(target_weights(probability, costly), returns, costly).trades
    assert trades["traded"].abs().sum() == pytest.approx(5.0)
    assert trades["cost"].sum() == pytest.approx(0.005)


def test_rules_top_k_threshold_long_short_and_position_limit():
    probability = frame({"A": [0.9], "B": [0.7], "C": [0.5], "D": [0.2]})
    top2 = target_weights(probability, StrategyConfig(k=2, max_weight=1.0)).iloc[0]
    assert top2.to_dict() == {"A": 0.5, "B": 0.5, "C": 0.0, "D": 0.0}
    capped = target_weights(probability, StrategyConfig(k=2, max_weight=0.3)).iloc[0]
    assert capped.to_dict() == {"A": 0.3, "B": 0.3, "C": 0.0, "D": 0.0}  # the other 40% stays in cash
    long_short = target_weights(probability, StrategyConfig(k=1, long_short=True, max_weight=1.0)).iloc[0]
    assert long_short.to_dict() == {"A": 1.0, "B": 0.0, "C": 0.0, "D": -1.0}
    threshold = target_weights(probability, StrategyConfig(rule="threshold", threshold=0.6, max_weight=1.0)).iloc[0]
    assert threshold.to_dict() == {"A": 0.5, "B": 0.5, "C": 0.0, "D": 0.0}
    nobody = target_weights(frame({"A": [0.4], "B": [0.3]}), StrategyConfig(rule="threshold", threshold=0.6))
    assert nobody.to_numpy().sum() == 0.0


def test_gates_move_to_cash_and_rebalancing_holds_targets_between_dates():
    probability = frame({"A": [0.9, 0.1, 0.9, 0.1, 0.9, 0.1], "B": [0.1, 0.9, 0.1, 0.9, 0.1, 0.9]})
    weights = target_weights(probability, StrategyConfig(k=1, max_weight=1.0))
    orders = rebalance(weights, every=3)
    assert orders["A"].tolist()[::3] == [1.0, 0.0] and orders.iloc[[1, 2, 4, 5]].isna().all().all()  # 0 and 3 only
    gate = pd.Series([False, True, False, False, False, False], index=probability.index)
    gated = apply_gates(weights, gate)
    assert gated.iloc[1].abs().sum() == 0.0 and gated.iloc[0]["A"] == 1.0


def test_the_regime_gate_trades_on_walk_forward_labels_only():
    """The gate reads regimes from models fit before each day (never the in-sample stored labels):
    the first 504 days have no label and are never gated; later, the book is in cash exactly two
    sessions after each signal day labelled with a gated regime (fill next bar, earn the bar after)."""
    rng = np.random.default_rng(3)
    days = pd.bdate_range("2015-01-01", periods=900)
    calm = (np.arange(900) // 150) % 2 == 0
    market = pd.DataFrame({"date": days, "mkt_ret_1d": rng.normal(0.0005, np.where(calm, 0.006, 0.02))})
    probability = pd.DataFrame({"A": 0.9, "B": 0.1}, index=days)
    returns = pd.DataFrame({"A": 0.001, "B": -0.001}, index=days)
    labels = walk_forward_labels(market).set_index("date")["regime"]
    gated = labels.value_counts().index[0]
    inputs = BacktestInputs(probability, probability, returns, market, pd.Series(dtype=float), "v", 5)
    config = StrategyConfig(k=1, max_weight=1.0, rebalance_every=1, regime_gate=(gated,))
    exposure = run_books(inputs, config)[0]["strategy"]["exposure"].reindex(days)
    signal_label = labels.reindex(days).shift(2)  # the label of the signal that sets each day's position
    in_cash = signal_label == gated
    assert in_cash.sum() > 50 and (~in_cash & signal_label.notna()).sum() > 50
    assert (exposure[in_cash] == 0).all()
    assert (exposure[~in_cash].iloc[2:] == 1.0).all()  # ungated days hold A, including the unlabelled first 504


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({"execution_lag": 0}, "no same-bar fills"),
        ({"rule": "best"}, "rule must be"),
        ({"max_weight": 1.5}, "max_weight"),
        ({"cost_bps": -1}, "cannot be negative"),
    ],
)
def test_invalid_rules_are_rejected(bad, message):
    with pytest.raises(ValueError, match=message):
        StrategyConfig(**bad)


def test_metrics_match_a_hand_checked_example():
    r = pd.Series([0.01, -0.02, 0.03, 0.0])
    m = performance(r, turnover=pd.Series([1.0, 0.0, 0.5, 0.0]))
    mean, sd = 0.005, math.sqrt((0.005**2 + 0.025**2 + 0.025**2 + 0.005**2) / 3)
    equity = 1.01 * 0.98 * 1.03 * 1.0  # 1.019494
    assert m["total_return"] == pytest.approx(equity - 1)
    assert m["annual_return"] == pytest.approx(equity ** (252 / 4) - 1)
    assert m["annual_volatility"] == pytest.approx(sd * math.sqrt(252))
    assert m["sharpe"] == pytest.approx(mean / sd * math.sqrt(252))
    assert m["sortino"] == pytest.approx(mean / math.sqrt(0.02**2 / 4) * math.sqrt(252))
    assert m["max_drawdown"] == pytest.approx(0.98 - 1)  # peak 1.01 -> trough 1.01 * 0.98
    assert m["calmar"] == pytest.approx(m["annual_return"] / 0.02)
    assert m["hit_rate"] == pytest.approx(2 / 3)  # the flat day is not counted
    assert m["annual_turnover"] == pytest.approx(0.375 * 252)
    assert information_ratio(r, r) != information_ratio(r, r)  # zero tracking error: undefined (NaN)
    active = r - pd.Series([0.0, 0.01, 0.0, 0.0])
    assert information_ratio(r, pd.Series([0.0, 0.01, 0.0, 0.0])) == pytest.approx(
        active.mean() / active.std() * math.sqrt(252)
    )


def test_buy_and_hold_drifts_and_never_rebalances():
    returns = frame({"A": [0.10, 0.10], "B": [0.0, 0.0]})
    hold = buy_and_hold(returns)
    assert hold.iloc[0] == pytest.approx(0.05)
    assert hold.iloc[1] == pytest.approx((0.5 * 1.21 + 0.5) / (0.5 * 1.1 + 0.5) - 1)  # A's weight grew


def test_weights_drift_between_rebalances_and_the_rebalance_pays_to_undo_it():
    """50/50 in A and B; A gains 10% on session 2. Until the next order the book holds the drifted
    weights (A 0.55/1.05 of equity), and the order on session 5 trades back to 50/50, paying for it."""
    returns = frame({"A": [0.0, 0.0, 0.10, 0.0, 0.0, 0.0, 0.02], "B": [0.0] * 7})
    orders = frame(
        {"A": [0.5] + [np.nan] * 3 + [0.5, np.nan, np.nan], "B": [0.5] + [np.nan] * 3 + [0.5, np.nan, np.nan]}
    )
    config = StrategyConfig(k=2, max_weight=1.0, cost_bps=10, slippage_bps=0)
    result = simulate(orders, returns, config)
    drifted = 0.5 * 1.10 / 1.05
    assert result.executed.loc[DATES[3], "A"] == pytest.approx(drifted)
    assert result.daily["turnover"].tolist()[:5] == pytest.approx([0.0, 1.0, 0.0, 0.0, 0.0])
    assert result.daily["turnover"].iloc[5] == pytest.approx(2 * (drifted - 0.5))  # back to 50/50 at 5's close
    assert result.daily["gross_return"].iloc[6] == pytest.approx(0.5 * 0.02)
    # The idealised book (reset to target every session, for free) is explicit, and differs.
    free = simulate(orders, returns, StrategyConfig(k=2, max_weight=1.0, cost_bps=10, slippage_bps=0, drift=False))
    assert free.executed.loc[DATES[3], "A"] == 0.5 and free.daily["turnover"].iloc[5] == 0.0


def test_a_symbol_whose_data_ends_is_sold_at_its_last_close_and_never_rebought():
    returns = frame({"A": [0.0, 0.01, 0.02, np.nan, np.nan, np.nan], "B": [0.0, 0.01, 0.0, 0.0, 0.0, 0.01]})
    orders = frame({"A": [0.5, np.nan, np.nan, 0.5, np.nan, np.nan], "B": [0.5, np.nan, np.nan, 0.5, np.nan, np.nan]})
    result = simulate(orders, returns, StrategyConfig(k=2, max_weight=1.0, cost_bps=10, slippage_bps=0))
    a_weight_at_end = 0.5 * 1.02 / 1.01  # filled at session 1's close, then A +2% over session 2
    sale = result.trades[result.trades["symbol"] == "A"].iloc[-1]
    assert sale["date"] == DATES[2] and sale["weight_after"] == 0.0  # sold at its last close
    assert sale["weight_before"] == pytest.approx(a_weight_at_end) and sale["cost"] == pytest.approx(
        a_weight_at_end * 1e-3
    )
    assert (result.executed.loc[DATES[2] :, "A"] == 0).all()  # the order on session 3 cannot rebuy it
    assert result.daily["positions"].tolist() == [0, 0, 2, 1, 1, 1]
    assert result.daily["exposure"].iloc[3] == pytest.approx(1 - a_weight_at_end)  # the rest is cash

    hold = buy_and_hold_book(returns)
    assert hold["positions"].tolist() == [2, 2, 2, 1, 1, 1]
    assert hold["exposure"].iloc[4] == pytest.approx(0.5 * 1.01 / (0.5 * 1.01 * 1.02 + 0.5 * 1.01))
    assert hold["net_return"].iloc[5] == pytest.approx(0.01 * hold["exposure"].iloc[5])  # A's part is cash


def test_a_rule_that_holds_the_whole_universe_is_flagged():
    rng = np.random.default_rng(1)
    four = pd.DataFrame(rng.uniform(size=(30, 4)), index=pd.bdate_range("2024-01-01", periods=30))
    forty = pd.DataFrame(rng.uniform(size=(30, 40)), index=four.index)
    assert "holds every symbol of a 4-symbol universe on 100%" in selection_warnings(four, StrategyConfig(k=5))[0]
    assert selection_warnings(forty, StrategyConfig(k=5)) == []
    assert selection_warnings(four, StrategyConfig(k=2, long_short=True)) != []
    assert selection_warnings(four, StrategyConfig(rule="threshold", threshold=0.0)) != []
    assert selection_warnings(forty, StrategyConfig(rule="threshold", threshold=0.55)) == []


def test_sharpe_improvement_interval_brackets_the_estimate_and_is_reproducible():
    rng = np.random.default_rng(5)
    a = pd.Series(rng.normal(0.0005, 0.01, 750))
    b = pd.Series(rng.normal(0.0, 0.01, 750))
    point, low, high = sharpe_difference_interval(a, b, samples=300, seed=1)
    assert point == pytest.approx(sharpe(a.to_numpy()) - sharpe(b.to_numpy()))
    assert low < point < high
    assert (point, low, high) == sharpe_difference_interval(a, b, samples=300, seed=1)
    # Three years of noise: the interval is wide and must not exclude zero skill by accident.
    same_skill = sharpe_difference_interval(b, pd.Series(rng.normal(0.0, 0.01, 750)), samples=300, seed=1)
    assert same_skill[1] < 0 < same_skill[2]


@pytest.mark.dbt
def test_stored_run_trades_out_of_fold_signals_and_reruns_idempotently(served_stack):
    from ml.backtest.run import run_backtest

    warehouse = served_stack.warehouse_path
    first = run_backtest(warehouse, samples=200)
    second = run_backtest(warehouse, samples=200)
    assert first.run_id == second.run_id
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        counts = {
            t: con.execute(f"select count(*) from ml.{t} where run_id = ?", [first.run_id]).fetchone()[0]
            for t in ("backtest_runs", "backtest_daily", "backtest_trades", "backtest_metrics")
        }
        books = [b for (b,) in con.execute("select distinct book from ml.backtest_daily order by 1").fetchall()]
        first_signal = con.execute(
            "select min(date) from ml.oof_predictions where p_calibrated is not null and model_version = ?",
            [first.model_version],
        ).fetchone()[0]
        first_fill = con.execute(
            "select min(date) from ml.backtest_trades where run_id = ?", [first.run_id]
        ).fetchone()[0]
        sessions_between = con.execute(
            "select count(*) from marts.dim_trading_calendar where is_trading_day and date > ? and date <= ?",
            [first_signal, first_fill],
        ).fetchone()[0]
    finally:
        con.close()
    assert counts["backtest_runs"] == 1
    assert counts["backtest_daily"] == 3 * int(first.value("strategy", "sessions"))
    assert counts["backtest_trades"] > 0 and counts["backtest_metrics"] > 0
    assert books == ["buy_and_hold", "momentum", "strategy"]
    assert sessions_between == 1  # the first fill is on the session after the first signal
    assert first.warnings == ()  # top-5 of 10 symbols is a selection
    assert not math.isnan(first.value("strategy", "sharpe_improvement_vs_buy_and_hold"))


@pytest.mark.dbt
def test_latest_backtest_route_and_kpi(served_stack, tmp_path):
    from fastapi.testclient import TestClient

    from featurecast.api.main import create_app

    client = TestClient(create_app(served_stack))
    body = client.get("/backtests/latest").json()
    assert [b["book"] for b in body["books"]] == ["buy_and_hold", "momentum", "strategy"]
    assert body["strategy"]["execution_lag"] == 1 and body["strategy"]["cost_bps"] == 5.0
    improvement = body["sharpe_improvement_vs_buy_and_hold"]
    assert improvement["ci_low"] <= improvement["value"] <= improvement["ci_high"]
    strategy = {m["metric"]: m["value"] for m in body["books"][2]["metrics"]}
    assert body["sessions"] == strategy["sessions"]
    created = datetime.fromisoformat(body["created_at"])  # an instant: time of day and zone, not a date
    assert created.tzinfo is not None and (created.hour, created.minute, created.second) != (0, 0, 0)
    assert body["warnings"] == [] and body["strategy"]["drift"] is True
    kpi = client.get("/dashboard/kpis").json()["backtest"]
    assert kpi["run_id"] == body["run_id"] and kpi["sharpe"] == pytest.approx(strategy["sharpe"])

    empty = TestClient(create_app(make_settings(tmp_path)))
    response = empty.get("/backtests/latest")
    assert response.status_code == 503 and "featurecast run" in response.json()["detail"]


@pytest.mark.dbt
def test_the_strategy_book_is_a_portfolio_with_forecasts(served_stack):
    """The newest backtest's book joins marts.fct_portfolio_daily as signal_strategy (equity equal to the
    backtest's, net of costs) and gets percentile forecasts like any portfolio."""
    from fastapi.testclient import TestClient

    from featurecast.api.main import create_app

    con = duckdb.connect(str(served_stack.warehouse_path), read_only=True)
    try:
        joined = con.execute(
            """
            select p.equity as portfolio_equity, d.equity as backtest_equity
            from marts.fct_portfolio_daily p
            join ml.backtest_daily d on d.date = p.date and d.book = 'strategy'
            join ml.portfolio_books b on b.date = p.date and b.run_id = d.run_id
            where p.portfolio = 'signal_strategy'
            """
        ).df()
    finally:
        con.close()
    assert len(joined) > 100
    np.testing.assert_allclose(joined["portfolio_equity"], joined["backtest_equity"], rtol=1e-9)
    body = TestClient(create_app(served_stack)).get("/portfolio/signal_strategy/forecast").json()
    assert body["portfolio"] == "signal_strategy" and len(body["horizons"]) >= 1


@pytest.mark.dbt
def test_the_nightly_backtest_reuses_its_stored_run_until_an_input_inside_the_window_changes(served_stack, tmp_path):
    """The nightly flow asks for `unchanged=True`: the stored run of the same rules, model and inputs is
    returned as it is (nothing replayed or written); a changed return inside the book's window replays."""
    from ml.backtest.run import run_backtest

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(served_stack.warehouse_path, warehouse)
    first = run_backtest(warehouse, samples=200)

    def stored(query: str) -> list[tuple]:
        con = duckdb.connect(str(warehouse), read_only=True)
        try:
            return con.execute(query).fetchall()
        finally:
            con.close()

    created = stored("select run_id, created_at from ml.backtest_runs order by all")
    again = run_backtest(warehouse, samples=200, unchanged=True)
    assert again.reused and not first.reused and again.run_id == first.run_id
    ordered = ["book", "metric"]
    pd.testing.assert_frame_equal(
        again.metrics.sort_values(ordered).reset_index(drop=True),
        first.metrics.sort_values(ordered).reset_index(drop=True),
        check_dtype=False,
    )
    assert (again.start_date, again.end_date) == (first.start_date, first.end_date)
    assert stored("select run_id, created_at from ml.backtest_runs order by all") == created  # nothing written

    con = duckdb.connect(str(warehouse))
    try:  # forecasts inside the window move: the default rules have no risk gate, so nothing they read did
        con.execute("update ml.forecasts set q05 = q05 - 0.05")
    finally:
        con.close()
    assert run_backtest(warehouse, samples=200, unchanged=True).reused

    con = duckdb.connect(str(warehouse))
    try:  # one return inside the book's window is restated
        con.execute(
            "update marts.fct_daily_features set ret_1d = ret_1d + 0.01 where (symbol, date) in ("
            "select symbol, date from ml.backtest_trades where run_id = ? order by date, symbol limit 1)",
            [first.run_id],
        )
    finally:
        con.close()
    replayed = run_backtest(warehouse, samples=200, unchanged=True)
    assert not replayed.reused and replayed.run_id != first.run_id
    assert stored("select distinct run_id from ml.portfolio_books where portfolio = 'signal_strategy'") == [
        (replayed.run_id,)
    ]
