"""BacktestService's batch side: run the signal strategy and its baselines, write the results to DuckDB.

The signals traded are the champion's walk-forward out-of-fold probabilities (`ml.oof_predictions`,
calibrated on earlier folds only): every one of them comes from a model that never saw its date's label,
which is what an honest backtest needs. The final model's scores in `ml.signals` are in-sample for the
dates it was trained on, so they are not traded here.

Books, all on the same sessions, with the same rules and frictions:
- `strategy`: the rules in StrategyConfig over the model's calibrated probabilities;
- `momentum`: the same rules over the momentum baseline's out-of-fold probabilities (same folds);
- `buy_and_hold`: the universe bought in equal parts, never traded; a symbol whose data ends is sold at its
  last close and the cash kept (engine.buy_and_hold_book).

Tables (schema `ml`): backtest_runs, backtest_daily (book, date, returns, costs, turnover, exposure,
equity, drawdown), backtest_trades (the strategy's fills), backtest_metrics (book, metric, value and,
for the Sharpe improvement, a bootstrap interval). The run id hashes the rules, the model and the data,
so a re-run replaces its own rows and never duplicates them.

The strategy book of the newest run is also published as the portfolio `signal_strategy` in
`ml.portfolio_books` (daily log return net of costs), which dbt adds to `marts.fct_portfolio_daily`, so
the forecast engine projects it and its forecasts are evaluated like any other portfolio's.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from featurecast.duckdb_rows import table_exists
from featurecast.errors import NotReadyError
from featurecast.marts import DuckDBMarts, MartReader
from ml.backtest.engine import StrategyConfig, apply_gates, buy_and_hold_book, rebalance, simulate, target_weights
from ml.backtest.metrics import information_ratio, performance, sharpe_difference_interval
from ml.forecasts.champions import served, served_forecasters
from ml.regimes.model import walk_forward_labels
from ml.signals.registry import champion

DDL = """
create schema if not exists ml;
create table if not exists ml.backtest_runs (
    run_id varchar primary key,
    created_at timestamp not null,
    model_version varchar not null,
    horizon integer not null,
    strategy json not null,
    start_date date not null,
    end_date date not null,
    sessions integer not null,
    symbols integer not null,
    seconds double not null,
    warnings json
);
alter table ml.backtest_runs add column if not exists warnings json;
create table if not exists ml.backtest_daily (
    run_id varchar not null, book varchar not null, date date not null,
    gross_return double not null, cost double not null, net_return double not null,
    turnover double not null, exposure double not null, positions integer not null,
    equity double not null, drawdown double not null,
    primary key (run_id, book, date)
);
create table if not exists ml.backtest_trades (
    run_id varchar not null, date date not null, symbol varchar not null,
    weight_before double not null, weight_after double not null, traded double not null, cost double not null,
    primary key (run_id, date, symbol)
);
create table if not exists ml.portfolio_books (
    portfolio varchar not null, date date not null, ret_1d double not null, holdings integer not null,
    run_id varchar not null,
    primary key (portfolio, date)
);
create table if not exists ml.backtest_metrics (
    run_id varchar not null, book varchar not null, metric varchar not null,
    value double, ci_low double, ci_high double,
    primary key (run_id, book, metric)
);
"""
BOOKS = ("strategy", "momentum", "buy_and_hold")
STRATEGY_PORTFOLIO = "signal_strategy"


@dataclass(frozen=True)
class BacktestInputs:
    probability: pd.DataFrame  # signal date x symbol, the model's calibrated out-of-fold probability
    baseline_probability: pd.DataFrame  # same shape, the momentum baseline's
    returns: pd.DataFrame  # session x symbol, simple close-to-close returns
    market: pd.DataFrame  # date, mkt_ret_1d: what the regime gate's walk-forward labels are fit on
    forecast_q05: pd.Series  # signal date -> 5th percentile of the 5-session equal-weight portfolio return
    model_version: str
    horizon: int
    forecaster: str = ""  # whose forecasts forecast_q05 are


@dataclass(frozen=True)
class BacktestReport:
    run_id: str
    model_version: str
    start_date: object
    end_date: object
    metrics: pd.DataFrame  # book, metric, value, ci_low, ci_high
    seconds: float
    warnings: tuple[str, ...] = ()  # what the comparison cannot show (e.g. a rule that holds the whole universe)
    risk_gate_forecaster: str | None = None  # whose forecasts the risk gate read, when there was one
    reused: bool = False  # the stored run of the same inputs, returned without replaying it (unchanged=True)

    def value(self, book: str, metric: str) -> float:
        row = self.metrics[(self.metrics["book"] == book) & (self.metrics["metric"] == metric)]
        return float(row["value"].iloc[0])


def load_inputs(
    warehouse: Path, horizon: int, marts: MartReader | None = None, forecaster: str | None = None
) -> BacktestInputs:
    """The champion's out-of-fold signals and forecasts (the warehouse's ml tables) and the returns and
    market series they trade on (the marts, read through `marts`; default: the DuckDB warehouse). The risk
    gate's forecasts are `forecaster`'s, by default the one served for the equal-weight book at 5 sessions
    (its champion, or the baseline before any has matured)."""
    entry = champion(warehouse, horizon)
    if entry is None:
        raise NotReadyError(
            f"no champion signal model for horizon {horizon}: run `featurecast signals train --promote`"
        )
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        oof = con.execute(
            "select date, symbol, p_calibrated, p_baseline from ml.oof_predictions "
            "where model_version = ? and p_calibrated is not null order by date, symbol",
            [entry.version],
        ).df()
        if oof.empty:
            raise NotReadyError(
                f"champion {entry.version} has no stored out-of-fold predictions: retrain it "
                "(`featurecast signals train --promote`)"
            )
    finally:
        con.close()
    reader = marts or DuckDBMarts(warehouse)
    # The risk gate reads the forecaster the API serves for the equal-weight book (or the one asked for).
    gate_forecaster = forecaster or served(served_forecasters(reader), "equal_weight", 5).model
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        forecasts = _optional(
            con,
            "forecasts",
            "select issue_date as date, any_value(q05) as q05 from ml.forecasts where portfolio = 'equal_weight' "
            "and model = ? and horizon = 5 group by issue_date order by issue_date",
            [gate_forecaster],
        )
    finally:
        con.close()
    first, last = oof["date"].min(), oof["date"].max()
    returns = reader.frame(
        # the universe a book may hold: tradable symbols (a benchmark is never traded)
        "select date, symbol, exp(ret_1d) - 1 as ret from marts.fct_daily_features "
        "where date >= ? and symbol in (select symbol from marts.dim_symbols where is_tradable) order by date, symbol",
        [first],
    )
    market = reader.frame("select date, mkt_ret_1d from marts.fct_market_features order by date")
    probability = oof.pivot(index="date", columns="symbol", values="p_calibrated")
    baseline = oof.pivot(index="date", columns="symbol", values="p_baseline")
    wide_returns = returns.pivot(index="date", columns="symbol", values="ret")
    # The tradable window: from the first signal to the last session whose return a held position can earn.
    wide_returns = wide_returns.loc[
        (wide_returns.index >= first) & (wide_returns.index <= last + pd.Timedelta(days=10))
    ]
    wide_returns = wide_returns.iloc[: _sessions_after(wide_returns.index, last, 2)]
    return BacktestInputs(
        probability,
        baseline,
        wide_returns,
        market,
        forecasts.set_index("date")["q05"] if not forecasts.empty else pd.Series(dtype=float),
        entry.version,
        horizon,
        gate_forecaster,
    )


def gate_regimes(market: pd.DataFrame) -> pd.Series:
    """Signal date -> market regime for the regime gate, from walk-forward refits (the same labelling as
    the stored point-in-time history, recomputed from the backtest's own market data so a backtest
    needs no regime store). Days before the first walk-forward model have no regime and are never gated."""
    labels = walk_forward_labels(market)
    if labels.empty:
        return pd.Series(dtype=object)
    return labels.set_index(pd.to_datetime(labels["date"]))["regime"]


def _sessions_after(index: pd.Index, last: date | str, extra: int) -> int:
    """Position just past `extra` sessions after `last` (the fill session and the first earning session)."""
    return int(np.searchsorted(index.to_numpy(), np.datetime64(last), side="right")) + extra


def _optional(
    con: duckdb.DuckDBPyConnection, table: str, query: str, parameters: list[object] | None = None
) -> pd.DataFrame:
    if not table_exists(con, "ml", table):
        return pd.DataFrame(columns=["date"])
    return con.execute(query, parameters or []).df()


def run_books(inputs: BacktestInputs, config: StrategyConfig) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Daily results of the strategy, the momentum baseline and buy-and-hold on the same sessions, and the
    strategy's trades."""
    gate = pd.Series(False, index=inputs.probability.index)
    if config.regime_gate:
        gate |= gate_regimes(inputs.market).reindex(gate.index).isin(config.regime_gate)
    if config.risk_gate_q05 is not None and not inputs.forecast_q05.empty:
        gate |= inputs.forecast_q05.reindex(gate.index) < config.risk_gate_q05
    books, trades = {}, pd.DataFrame()
    for book, probability in (("strategy", inputs.probability), ("momentum", inputs.baseline_probability)):
        targets = rebalance(apply_gates(target_weights(probability, config), gate), config.rebalance_every)
        result = simulate(targets, inputs.returns, config)
        books[book] = result.daily
        if book == "strategy":
            trades = result.trades
    books["buy_and_hold"] = buy_and_hold_book(inputs.returns)
    return books, trades


def selection_warnings(probability: pd.DataFrame, config: StrategyConfig) -> list[str]:
    """Why the strategy may not be a selection at all: a rule that holds every symbol with a signal on most
    dates is the equally weighted universe, so its comparison with momentum and buy-and-hold measures
    weighting and timing, not the signal's choice of names."""
    universe = probability.notna().sum(axis=1)
    dates = universe > 0
    if not dates.any():
        return ["no signal date has a probability: the strategy never trades"]
    if config.rule == "top_k":
        picked = config.k * (2 if config.long_short else 1)
        whole = (universe[dates] <= picked).mean()
        rule = f"top-{config.k}" + (" long-short" if config.long_short else "")
    else:
        chosen = probability >= config.threshold
        if config.long_short:
            chosen |= probability <= 1 - config.threshold
        whole = (chosen.sum(axis=1)[dates] >= universe[dates]).mean()
        rule = f"threshold {config.threshold:g}"
    if whole <= 0.5:
        return []
    size = int(universe[dates].median())
    return [
        f"the {rule} rule holds every symbol of a {size}-symbol universe on {whole:.0%} of signal dates: the "
        "strategy is the equally weighted universe, not a selection, so its comparison with momentum and "
        "buy-and-hold says nothing about which names the signal picks (use a wider universe or a smaller --k)"
    ]


def book_metrics(books: dict[str, pd.DataFrame], *, samples: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Every book's performance, information ratios and the strategy's Sharpe improvement with its interval."""
    rows: list[tuple[str, str, float, float | None, float | None]] = []
    net = {name: frame["net_return"] for name, frame in books.items()}
    for name, frame in books.items():
        for metric, value in performance(net[name], frame["turnover"]).items():
            rows.append((name, metric, value, None, None))
        for other in ("buy_and_hold", "momentum"):
            if other != name:
                rows.append(
                    (name, f"information_ratio_vs_{other}", information_ratio(net[name], net[other]), None, None)
                )
    for other in ("buy_and_hold", "momentum"):
        point, low, high = sharpe_difference_interval(net["strategy"], net[other], samples=samples, seed=seed)
        rows.append(("strategy", f"sharpe_improvement_vs_{other}", point, low, high))
    return pd.DataFrame(rows, columns=["book", "metric", "value", "ci_low", "ci_high"])


def _run_id(config: StrategyConfig, inputs: BacktestInputs) -> str:
    """The run's identity: the rules, the model and every input inside the book's window (the returns, and
    what a gate the rules turn on reads up to its last session: the market series for the regime gate, the
    forecasts for the risk gate). A new session after the window leaves it unchanged, so the night's
    backtest can reuse the stored run."""
    end = inputs.returns.index.max()
    market = inputs.market.loc[pd.to_datetime(inputs.market["date"]) <= pd.Timestamp(end), "mkt_ret_1d"]
    gate = inputs.forecast_q05.loc[pd.to_datetime(inputs.forecast_q05.index) <= pd.Timestamp(end)]
    market = market if config.regime_gate else market.iloc[:0]
    gate = gate if config.risk_gate_q05 is not None else gate.iloc[:0]
    fingerprint = [
        config.as_dict(),
        inputs.model_version,
        str(inputs.returns.index.min()),
        str(end),
        list(inputs.returns.columns),
        float(np.nansum(inputs.returns.to_numpy())),
        [len(market), round(float(np.nansum(market.to_numpy(dtype=float))), 12)],
        [len(gate), round(float(np.nansum(gate.to_numpy(dtype=float))), 12)],
    ]
    digest = hashlib.sha256(json.dumps(fingerprint, sort_keys=True, default=str).encode()).hexdigest()
    return f"bt-{digest[:12]}"


def _stored_report(warehouse: Path, run_id: str, config: StrategyConfig) -> BacktestReport | None:
    """The stored run `run_id` as a report, if it is the one whose book `ml.portfolio_books` publishes."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        if not (table_exists(con, "ml", "backtest_runs") and table_exists(con, "ml", "portfolio_books")):
            return None
        run = con.execute(
            "select model_version, start_date, end_date, seconds, warnings from ml.backtest_runs where run_id = ?",
            [run_id],
        ).fetchone()
        published = con.execute(
            "select count(*) filter (where run_id = ?), count(*) from ml.portfolio_books where portfolio = ?",
            [run_id, STRATEGY_PORTFOLIO],
        ).fetchone()
        if run is None or published is None or published[0] == 0 or published[0] != published[1]:
            return None
        metrics = con.execute(
            "select book, metric, value, ci_low, ci_high, run_id from ml.backtest_metrics "
            "where run_id = ? order by all",
            [run_id],
        ).df()
    finally:
        con.close()
    version, start, end, seconds, warnings = run
    return BacktestReport(
        run_id,
        version,
        pd.Timestamp(start),  # as a replay reports them (the returns' index)
        pd.Timestamp(end),
        metrics,
        seconds,
        tuple(json.loads(warnings) if warnings else ()),
        config.risk_gate_forecaster if config.risk_gate_q05 is not None else None,
        reused=True,
    )


def run_backtest(
    warehouse: Path,
    config: StrategyConfig | None = None,
    *,
    horizon: int = 5,
    samples: int = 1000,
    marts: MartReader | None = None,
    unchanged: bool = False,
) -> BacktestReport:
    """Backtest the champion's out-of-fold signals and write the run to DuckDB (idempotent by run id).

    `unchanged=True` (the nightly flow) returns the stored run when one of the same run id (the same rules,
    model and inputs inside the book's window) is the published book, without replaying or writing it:
    a new session after the out-of-fold signals end changes nothing the backtest reads."""
    config = config or StrategyConfig(rebalance_every=horizon)
    started = time.perf_counter()
    inputs = load_inputs(warehouse, horizon, marts, config.risk_gate_forecaster)
    if config.risk_gate_q05 is not None and config.risk_gate_forecaster is None:
        config = replace(config, risk_gate_forecaster=inputs.forecaster)  # stored with the run, named
    run_id = _run_id(config, inputs)
    stored = _stored_report(warehouse, run_id, config) if unchanged else None
    if stored is not None:
        return stored
    books, trades = run_books(inputs, config)
    warnings = selection_warnings(inputs.probability, config)
    metrics = book_metrics(books, samples=samples)
    daily = []
    for name, frame in books.items():
        equity = (1.0 + frame["net_return"]).cumprod()
        daily.append(
            frame.drop(columns=["long", "short"], errors="ignore").assign(
                run_id=run_id,
                book=name,
                date=frame.index,
                equity=equity,
                drawdown=equity / equity.cummax().clip(lower=1.0) - 1.0,
            )
        )
    daily_rows = pd.concat(daily, ignore_index=True)
    trades = trades.assign(run_id=run_id)
    metrics = metrics.assign(run_id=run_id)
    seconds = time.perf_counter() - started
    con = duckdb.connect(str(warehouse))
    try:
        con.execute(DDL)
        con.execute("begin transaction")
        for table in ("backtest_runs", "backtest_daily", "backtest_trades", "backtest_metrics"):
            con.execute(f"delete from ml.{table} where run_id = ?", [run_id])
        con.execute(
            "insert into ml.backtest_runs values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                run_id,
                datetime.now(UTC).replace(tzinfo=None),
                inputs.model_version,
                horizon,
                json.dumps(config.as_dict()),
                inputs.returns.index.min(),
                inputs.returns.index.max(),
                len(inputs.returns),
                inputs.returns.shape[1],
                seconds,
                json.dumps(warnings),
            ],
        )
        strategy = books["strategy"]
        book = pd.DataFrame(
            {
                "portfolio": STRATEGY_PORTFOLIO,
                "date": strategy.index,
                "ret_1d": np.log1p(strategy["net_return"].to_numpy()),
                "holdings": strategy["positions"].astype(int).to_numpy(),
                "run_id": run_id,
            }
        )
        con.execute("delete from ml.portfolio_books where portfolio = ?", [STRATEGY_PORTFOLIO])
        for table, frame in (
            ("backtest_daily", daily_rows),
            ("backtest_trades", trades),
            ("backtest_metrics", metrics),
            ("portfolio_books", book),
        ):
            con.register("rows_in", frame)
            con.execute(f"insert into ml.{table} by name select * from rows_in")
            con.unregister("rows_in")
        con.execute("commit")
    finally:
        con.close()
    return BacktestReport(
        run_id,
        inputs.model_version,
        inputs.returns.index.min(),
        inputs.returns.index.max(),
        metrics,
        seconds,
        tuple(warnings),
        config.risk_gate_forecaster if config.risk_gate_q05 is not None else None,
    )
