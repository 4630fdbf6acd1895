"""Issuing forecasts: run the engine for every portfolio and store every forecast in DuckDB.

`ml.forecasts` keeps every forecast ever issued (portfolio, issue date, horizon, target date, quantiles of
the log return and of equity, model and version). The dbt evaluation models score a forecast once its
target date is in the data.

A nightly issue is incremental: only the issue dates after the newest one stored are computed. The state
the later forecasts depend on comes from what is stored: the conformal forecaster's issued quantiles
(its adaptive levels replay through their hits) and the quantile model's raw quantiles
(`ml.forecast_quantile_state`, its conformal scores); `ml.forecast_issue_log` records, per portfolio,
through which date and with which forecaster versions that state is complete. The result equals a full
re-issue row for row (a test). A portfolio whose history changed (its stored equity at an issue date no
longer matches, e.g. the backtest's book after a retrain) is re-issued from the first changed date; a new
forecaster version, missing state or `full=True` re-issues everything. Re-issuing replaces rows, never
duplicates them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from featurecast.errors import NotReadyError
from featurecast.marts import DuckDBMarts, MartReader
from featurecast.progress import Progress
from ml.forecasts.engine import HORIZONS, LEVELS, ForecastConfig, Prior, run_forecasts
from ml.signals.dataset import trading_sessions

DDL = """
create schema if not exists ml;
create table if not exists ml.forecasts (
    portfolio varchar not null,
    issue_date date not null,
    horizon integer not null,
    target_date date not null,
    model varchar not null,
    model_version varchar not null,
    equity_at_issue double not null,
    daily_volatility double not null,
    q05 double not null, q50 double not null, q95 double not null,
    equity_q05 double not null, equity_q50 double not null, equity_q95 double not null,
    issued_at timestamp not null
);
create table if not exists ml.forecast_quantile_state (
    portfolio varchar not null,
    issue_date date not null,
    horizon integer not null,
    model_version varchar not null,
    raw_q05 double not null, raw_q50 double not null, raw_q95 double not null,
    primary key (portfolio, issue_date, horizon, model_version)
);
create table if not exists ml.forecast_issue_log (
    portfolio varchar primary key,
    conformal_version varchar not null,
    quantile_version varchar not null,
    through_date date not null,
    issued_at timestamp not null
);
"""
QUANTILES = [f"q{round(level * 100):02d}" for level in LEVELS]


def ensure_forecast_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


@dataclass(frozen=True)
class IssueReport:
    portfolios: list[str]
    forecasts: int  # rows written by this issue
    latest_issue_date: object
    seconds: float
    new_issue_dates: int = 0  # issue dates computed (all of them on a full issue)
    full: tuple[str, ...] = ()  # portfolios re-issued in full or from a changed date, with the reason


def _stored(
    con: duckdb.DuckDBPyConnection, config: ForecastConfig
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, object]]:
    """The stored conformal forecasts and quantile-model state of the current forecaster versions, and
    through which date each portfolio's state is complete for those versions."""
    log = con.execute(
        "select portfolio, through_date from ml.forecast_issue_log where conformal_version = ? "
        "and quantile_version = ?",
        [config.version("conformal"), config.version("lgbm_quantile")],
    ).fetchall()
    conformal = con.execute(
        "select portfolio, issue_date, horizon, equity_at_issue, q05, q50, q95 from ml.forecasts "
        "where model_version = ? order by portfolio, horizon, issue_date",
        [config.version("conformal")],
    ).df()
    state = con.execute(
        "select portfolio, issue_date, horizon, raw_q05, raw_q50, raw_q95 from ml.forecast_quantile_state "
        "where model_version = ? order by portfolio, horizon, issue_date",
        [config.version("lgbm_quantile")],
    ).df()
    return conformal, state, {portfolio: through for portfolio, through in log}


def _prior(
    group: pd.DataFrame, conformal: pd.DataFrame, state: pd.DataFrame, through: object, config: ForecastConfig
) -> tuple[Prior | None, str | None]:
    """The prior for an incremental issue of one portfolio, or None (with the reason) to issue in full."""
    dates = group["date"].to_numpy(dtype="datetime64[ns]")
    equity = group["equity"].to_numpy(dtype=float)
    if conformal.empty:
        return None, "first issue"
    issued_dates = np.sort(conformal["issue_date"].unique().astype("datetime64[ns]"))
    if through is None or np.datetime64(pd.Timestamp(through), "ns") != issued_dates[-1]:
        return None, "no complete forecaster state for these versions"
    expected = dates[config.min_history : config.min_history + len(issued_dates)]
    if len(expected) < len(issued_dates):
        return None, "its history is shorter than what was issued"
    same_dates = expected == issued_dates
    by_date = conformal.drop_duplicates("issue_date").set_index("issue_date")["equity_at_issue"]
    stored_equity = by_date.reindex(pd.DatetimeIndex(issued_dates)).to_numpy()
    current = equity[config.min_history : config.min_history + len(issued_dates)]
    same_equity = np.isclose(stored_equity, current, rtol=1e-12, atol=0.0)
    changed = np.flatnonzero(~(same_dates & same_equity))
    start = config.min_history + (int(changed[0]) if len(changed) else len(issued_dates))
    reason = f"its history changed from {str(dates[start])[:10]}" if len(changed) else None
    if start <= config.min_history:
        return None, reason or "nothing to build on"
    positions = pd.Series(np.arange(len(dates)), index=pd.DatetimeIndex(dates))
    prior_conformal, prior_raw = {}, {}
    for h in HORIZONS:
        rows = conformal[conformal["horizon"] == h]
        frame = np.full((start, len(LEVELS)), np.nan)
        at = positions.reindex(pd.DatetimeIndex(rows["issue_date"])).to_numpy()
        keep = at < start
        frame[at[keep].astype(int)] = rows[QUANTILES].to_numpy()[keep]
        if np.isnan(frame[config.min_history :]).any():
            return None, "stored conformal forecasts have gaps"
        prior_conformal[h] = frame
        raw_rows = state[state["horizon"] == h]
        raw = np.full((start, len(LEVELS)), np.nan)
        at = positions.reindex(pd.DatetimeIndex(raw_rows["issue_date"])).to_numpy()
        keep = np.isfinite(at) & (at < start)
        raw[at[keep].astype(int)] = raw_rows[["raw_q05", "raw_q50", "raw_q95"]].to_numpy()[keep]
        prior_raw[h] = raw
    return Prior(start, prior_conformal, prior_raw), reason


def issue_forecasts(
    warehouse: Path, config: ForecastConfig | None = None, *, full: bool = False, marts: MartReader | None = None
) -> IssueReport:
    """Issue every portfolio's forecasts for the issue dates not stored yet (all of them with full=True).
    The portfolios' returns are read through `marts` (default: the DuckDB warehouse); the forecasts and
    their state are the warehouse's ml tables."""
    config = config or ForecastConfig()
    started = time.perf_counter()
    reader = marts or DuckDBMarts(warehouse)
    daily = reader.frame(
        "select portfolio, date, ret_1d, equity from marts.fct_portfolio_daily order by portfolio, date, ret_1d, equity"
    )
    sessions = trading_sessions(reader)
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = {
            t for (t,) in con.execute("select table_name from duckdb_tables() where schema_name = 'ml'").fetchall()
        }
    finally:
        con.close()
    if daily.empty:
        raise NotReadyError("marts.fct_portfolio_daily is empty: run `featurecast build` first")
    if full or not {"forecasts", "forecast_quantile_state", "forecast_issue_log"} <= tables:
        through: dict[Any, Any] = {}
        conformal, state = pd.DataFrame(columns=["portfolio"]), pd.DataFrame(columns=["portfolio"])
    else:
        with duckdb.connect(str(warehouse), read_only=True) as stored:
            conformal, state, through = _stored(stored, config)
    frames, raws, firsts, notes, new_dates = [], [], {}, [], 0
    progress = Progress("issuing forecasts", total=daily["portfolio"].nunique())
    for portfolio, group in daily.groupby("portfolio"):
        group = group.sort_values("date").reset_index(drop=True)
        prior, reason = (
            (None, "full re-issue requested")
            if full
            else _prior(
                group,
                conformal[conformal["portfolio"] == portfolio],
                state[state["portfolio"] == portfolio],
                through.get(portfolio),
                config,
            )
        )
        if reason:
            notes.append(f"{portfolio}: {reason}")
        run = run_forecasts(group, sessions, config, prior=prior)
        start = max(config.min_history, prior.start if prior else 0)
        new_dates += max(len(group) - start, 0)
        if start < len(group):
            firsts[portfolio] = group["date"].iloc[start]
        frames.append(run.forecasts.assign(portfolio=portfolio))
        raws.append(run.raw_quantile.assign(portfolio=portfolio, model_version=config.version("lgbm_quantile")))
        progress.advance(step=f"{portfolio} issued ({max(len(group) - start, 0)} issue dates)")
    forecasts = pd.concat(frames, ignore_index=True)
    forecasts["issued_at"] = datetime.now(UTC).replace(tzinfo=None)
    raw = pd.concat(raws, ignore_index=True)
    versions = [config.version(m) for m in ("vol_normal", "conformal", "lgbm_quantile")]
    con = duckdb.connect(str(warehouse))
    try:
        ensure_forecast_table(con)
        con.execute("begin transaction")
        for portfolio, first in firsts.items():  # replace everything from the first recomputed date on
            con.execute(
                "delete from ml.forecasts where portfolio = ? and issue_date >= ? and model_version in (?, ?, ?)",
                [portfolio, first, *versions],
            )
            con.execute(
                "delete from ml.forecast_quantile_state where portfolio = ? and issue_date >= ? and model_version = ?",
                [portfolio, first, versions[2]],
            )
        con.register("new_forecasts", forecasts)
        con.execute("insert into ml.forecasts by name select * from new_forecasts")
        con.register("new_state", raw)
        con.execute("insert into ml.forecast_quantile_state by name select * from new_state")
        issued_at = datetime.now(UTC).replace(tzinfo=None)
        for portfolio in firsts:
            last = forecasts.loc[forecasts["portfolio"] == portfolio, "issue_date"].max()
            if pd.notna(last):
                con.execute(
                    "insert or replace into ml.forecast_issue_log values (?, ?, ?, ?, ?)",
                    [portfolio, versions[1], versions[2], last, issued_at],
                )
        con.execute("commit")
    finally:
        con.close()
    latest = forecasts["issue_date"].max() if len(forecasts) else daily["date"].max()
    return IssueReport(
        sorted(daily["portfolio"].unique()),
        len(forecasts),
        latest,
        time.perf_counter() - started,
        new_dates,
        tuple(notes),
    )
