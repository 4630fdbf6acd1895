"""Issuing forecasts: run the engine for every portfolio and store every forecast in DuckDB.

`ml.forecasts` keeps every forecast ever issued (portfolio, issue date, horizon, target date, quantiles of
the log return and of equity, model and version). Re-issuing replaces the rows of the same (portfolio,
issue date, horizon, model version), so a re-run never duplicates; the dbt evaluation models score a
forecast once its target date is in the data.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pandas as pd

from featurecast.errors import NotReadyError
from ml.forecasts.engine import ForecastConfig, forecast_portfolio
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
"""


def ensure_forecast_table(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


@dataclass(frozen=True)
class IssueReport:
    portfolios: list[str]
    forecasts: int
    latest_issue_date: object
    seconds: float


def issue_forecasts(warehouse: Path, config: ForecastConfig | None = None) -> IssueReport:
    config = config or ForecastConfig()
    started = time.perf_counter()
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        daily = con.execute("select portfolio, date, ret_1d, equity from marts.fct_portfolio_daily order by all").df()
        sessions = trading_sessions(con)
    finally:
        con.close()
    if daily.empty:
        raise NotReadyError("marts.fct_portfolio_daily is empty: run `featurecast build` first")
    frames = []
    for portfolio, group in daily.groupby("portfolio"):
        frame = forecast_portfolio(group, sessions, config)
        frame.insert(0, "portfolio", portfolio)
        frames.append(frame)
    forecasts = pd.concat(frames, ignore_index=True)
    forecasts["issued_at"] = datetime.now(UTC).replace(tzinfo=None)
    con = duckdb.connect(str(warehouse))
    try:
        ensure_forecast_table(con)
        con.execute("begin transaction")
        con.register("new_forecasts", forecasts)
        con.execute("""
            delete from ml.forecasts f using new_forecasts n
            where f.portfolio = n.portfolio and f.issue_date = n.issue_date and f.horizon = n.horizon
              and f.model_version = n.model_version
        """)
        con.execute("insert into ml.forecasts by name select * from new_forecasts")
        con.execute("commit")
    finally:
        con.close()
    return IssueReport(
        sorted(daily["portfolio"].unique()),
        len(forecasts),
        forecasts["issue_date"].max(),
        time.perf_counter() - started,
    )
