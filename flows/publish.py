"""Publishing the serving snapshot: the pipeline's last step (the daily flow, `featurecast publish`).

`publish_snapshot` copies what the API serves from the warehouse into a new, self-contained DuckDB file
under the serving directory: the champion's signals and metadata (from the registry), per-symbol
freshness, guardrail findings, the online feature store, forecasts, their evaluation and the forecaster
selection, and the newest backtest. Then it points `CURRENT` at it with an atomic rename. The read side
is `featurecast/api/snapshot.py` (`SnapshotStore`). Old snapshots beyond the newest few are deleted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from featurecast.api.snapshot import BACKTEST_TABLES, KEEP_SNAPSHOTS, ONLINE_FEATURE_SESSIONS, POINTER
from featurecast.durable import remove_leftovers, replace_durably, write_text_durably
from featurecast.errors import NotReadyError
from featurecast.marts import MartReader, to_naive_arrow
from ml.signals.registry import champion


def publish_snapshot(
    warehouse: Path,
    serving_dir: Path,
    *,
    horizon: int = 5,
    feature_sessions: int = ONLINE_FEATURE_SESSIONS,
    marts: MartReader | None = None,
) -> Path:
    """Write a new snapshot for the champion of `horizon` and make it current. Returns its path.

    Besides signals it carries the online feature store: every feature of each symbol's newest
    `feature_sessions` bars and of the market's newest `feature_sessions` dates (older values stay in the
    warehouse, for `featurecast.features.get_historical_features`).

    The registry, signals, forecasts and backtests come from the warehouse; the marts from `marts` (default:
    the DuckDB warehouse itself; another engine's marts are read as Arrow, only the rows the snapshot keeps)."""
    entry = champion(warehouse, horizon)  # the registry owns ml.model_registry
    if entry is None:
        raise NotReadyError(
            f"no champion model for horizon {horizon} to publish: run `featurecast signals train --promote`"
        )
    serving_dir.mkdir(parents=True, exist_ok=True)
    remove_leftovers(serving_dir)  # what a killed publish left behind; never a snapshot CURRENT names
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    path = serving_dir / f"snapshot-{stamp}.duckdb"
    partial = serving_dir / f".{path.name}.partial"
    con = duckdb.connect(str(partial))
    try:
        escaped = str(warehouse).replace("'", "''")
        con.execute(f"attach '{escaped}' as wh (read_only)")
        m = "wh" if marts is None or marts.engine == "duckdb" else _load_marts(con, marts, feature_sessions)
        con.execute(
            "create table model (model_version varchar, family varchar, horizon integer, features varchar[], "
            "metrics json, train_start date, train_end date)"
        )
        con.execute(
            "insert into model values (?, ?, ?, ?, ?, ?, ?)",
            [
                entry.version,
                entry.family,
                entry.horizon,
                entry.features,
                json.dumps(entry.metrics),
                entry.train_start,
                entry.train_end,
            ],
        )
        con.execute(
            "create table signals as select symbol, date, probability, raw_score, base_value, "
            "feature_values, contributions from wh.ml.signals where model_version = ? order by symbol, date",
            [entry.version],
        )
        con.execute(
            f"create table symbols as select symbol, last_date, sessions_behind, is_stale from {m}.marts.dim_symbols"
        )
        con.execute(
            "create table quality as select rule, action, count(*) as findings, count(*) filter "
            f"(where date >= (select max(date) from {m}.marts.fct_daily_features) - interval 30 day) as findings_30d "
            f"from {m}.marts.fct_price_quarantine group by all order by rule, action"
        )
        if _exists(con, "ml", "forecasts"):
            con.execute(
                "create table forecasts as select * exclude (issued_at) from wh.ml.forecasts "
                "qualify issue_date = max(issue_date) over (partition by portfolio)"
            )
        else:
            con.execute(
                "create table forecasts (portfolio varchar, issue_date date, horizon integer, target_date date, "
                "model varchar, model_version varchar, equity_at_issue double, daily_volatility double, q05 double, "
                "q50 double, q95 double, equity_q05 double, equity_q50 double, equity_q95 double)"
            )
        con.execute(f"create table forecast_calibration as select * from {m}.marts.fct_forecast_calibration")
        con.execute(
            f"create table forecaster_selection as select * from {m}.marts.fct_forecaster_selection order by all"
            if _exists(con, "marts", "fct_forecaster_selection", catalog=m)
            else "create table forecaster_selection (portfolio varchar, horizon integer, model varchar, "
            "model_version varchar, selection_rank integer, is_champion boolean, eligible boolean, "
            "ineligible_because varchar)"  # a warehouse whose evaluation stage has not run since the mart exists
        )
        con.execute(f"create table var_backtest as select * from {m}.marts.fct_var_backtest")
        con.execute(f"create table calibration_by_regime as select * from {m}.marts.fct_forecast_calibration_by_regime")
        con.execute(
            "create table portfolios as select portfolio, min(date) as first_date, max(date) as last_date, "
            f"arg_max(equity, date) as equity from {m}.marts.fct_portfolio_daily group by portfolio"
        )
        _copy_backtest(con)
        # For the dashboard's charts: equity curves, every matured forecast, the champion's reliability.
        con.execute(
            f"create table portfolio_daily as select portfolio, date, equity from {m}.marts.fct_portfolio_daily "
            "order by portfolio, date"
        )
        con.execute(
            "create table forecast_evaluation as select portfolio, issue_date, horizon, target_date, model, q05, q50, "
            f"q95, realised_return, in_band from {m}.marts.fct_forecast_evaluation order by all"
        )
        con.execute(
            "create table reliability as select bin, bin_low, bin_high, mean_predicted, observed, count "
            "from wh.ml.reliability where model_version = ? order by bin",
            [entry.version],
        )
        _copy_online_features(con, feature_sessions, m)
        con.execute(
            f"create table meta as select (select max(date) from {m}.marts.fct_daily_features) as data_last_date, "
            "current_timestamp::timestamp as published_at"
        )
        con.execute("detach wh")
        if m != "wh":
            con.execute(f"detach {m}")
    finally:
        con.close()
    # Durable before visible: the snapshot is on disk before CURRENT can name it, and CURRENT changes by
    # one atomic rename. A kill at any step leaves the previous snapshot current.
    replace_durably(partial, path)
    write_text_durably(serving_dir / POINTER, path.name)
    for old in sorted(serving_dir.glob("snapshot-*.duckdb"))[:-KEEP_SNAPSHOTS]:
        old.unlink(missing_ok=True)
    return path


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str, *, catalog: str = "wh") -> bool:
    found = con.execute(
        "select count(*) from information_schema.tables where table_catalog = ? and table_schema = ? "
        "and table_name = ?",
        [catalog, schema, table],
    ).fetchone()
    return bool(found and found[0])


def _copy_backtest(con: duckdb.DuckDBPyConnection) -> None:
    """The newest backtest run of the champion, its metrics and daily equity (empty tables if none)."""
    for ddl in BACKTEST_TABLES.values():
        con.execute(ddl)
    if not _exists(con, "ml", "backtest_runs"):
        return
    con.execute(
        "insert into backtest_run by name select * from wh.ml.backtest_runs where model_version = "
        "(select model_version from model) order by created_at desc limit 1"
    )
    con.execute(
        "insert into backtest_metrics select book, metric, value, ci_low, ci_high from wh.ml.backtest_metrics "
        "where run_id = (select run_id from backtest_run)"
    )
    con.execute(
        "insert into backtest_daily select book, date, net_return, turnover, exposure, equity, drawdown "
        "from wh.ml.backtest_daily where run_id = (select run_id from backtest_run) order by book, date"
    )


# The marts a snapshot copies from, and for the per-symbol and market feature marts the newest rows it keeps.
SNAPSHOT_MARTS = (
    "dim_symbols",
    "fct_price_quarantine",
    "fct_forecast_calibration",
    "fct_forecaster_selection",
    "fct_var_backtest",
    "fct_forecast_calibration_by_regime",
    "fct_portfolio_daily",
    "fct_forecast_evaluation",
)


def _load_marts(con: duckdb.DuckDBPyConnection, marts: MartReader, sessions: int) -> str:
    """Another engine's marts, as far as the snapshot reads them, in an in-memory catalog `engine`: the
    small marts whole, and the newest `sessions` rows of the feature marts (Arrow from the engine)."""
    con.execute("attach ':memory:' as engine")
    con.execute("create schema engine.marts")
    wanted = {name: f"select * from marts.{name}" for name in SNAPSHOT_MARTS if marts.has(f"marts.{name}")}
    wanted["fct_daily_features"] = (
        "select * from (select *, row_number() over (partition by symbol order by date desc) as _newest "
        "from marts.fct_daily_features) as ranked where _newest <= ?"
    )
    wanted["fct_market_features"] = (
        "select * from (select *, row_number() over (order by date desc) as _newest "
        "from marts.fct_market_features) as ranked where _newest <= ?"
    )
    for name, sql in wanted.items():
        rows = marts.arrow(sql, [sessions] if "?" in sql else [])
        if "_newest" in rows.column_names:
            rows = rows.drop_columns(["_newest"])
        con.register("engine_rows", to_naive_arrow(rows))
        con.execute(f"create table engine.marts.{name} as select * from engine_rows")
        con.unregister("engine_rows")
    return "engine"


def _copy_online_features(con: duckdb.DuckDBPyConnection, sessions: int, catalog: str = "wh") -> None:
    """Each symbol's newest `sessions` bars of every feature, and the market's newest `sessions` dates."""
    from featurecast.features import MARKET_MART, NOT_FEATURES, SYMBOL_MART

    marts = (("features", SYMBOL_MART, ["symbol", "date"]), ("market_features", MARKET_MART, ["date"]))
    for table, mart, keys in marts:
        schema, name = mart.split(".")
        columns = [
            row[0]
            for row in con.execute(
                "select column_name from information_schema.columns where table_catalog = ? and "
                "table_schema = ? and table_name = ? order by ordinal_position",
                [catalog, schema, name],
            ).fetchall()
            if row[0] not in NOT_FEATURES
        ]
        partition = "partition by symbol " if "symbol" in keys else ""
        con.execute(
            f"create table {table} as select {', '.join(keys + columns)} from {catalog}.{mart} "
            f"qualify row_number() over ({partition}order by date desc) <= ? order by {', '.join(keys)}",
            [sessions],
        )
