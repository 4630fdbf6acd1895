"""Serving snapshots: what the API reads, published by the pipeline, never the live warehouse.

`publish_snapshot` copies the champion's signals, the model's metadata and per-symbol freshness from
the warehouse into a new, self-contained DuckDB file under the serving directory, then points
`CURRENT` at it with an atomic rename. `SnapshotStore` notices a new `CURRENT`, loads the snapshot into
memory (once), and swaps it in; requests keep using the previous snapshot until the new one is fully
loaded, and keep it if loading fails. Old snapshots beyond the newest few are deleted.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from app.periodic import PeriodicRefresh
from featurecast.durable import remove_leftovers, replace_durably, write_text_durably
from featurecast.errors import NotReadyError

log = logging.getLogger(__name__)
POINTER = "CURRENT"
KEEP_SNAPSHOTS = 3
ONLINE_FEATURE_SESSIONS = 260  # about a year of bars per symbol for GET /features/{symbol}


def publish_snapshot(
    warehouse: Path, serving_dir: Path, *, horizon: int = 5, feature_sessions: int = ONLINE_FEATURE_SESSIONS
) -> Path:
    """Write a new snapshot for the champion of `horizon` and make it current. Returns its path.

    Besides signals it carries the online feature store: every feature of each symbol's newest
    `feature_sessions` bars and of the market's newest `feature_sessions` dates (older values stay in the
    warehouse, for `featurecast.features.get_historical_features`)."""
    serving_dir.mkdir(parents=True, exist_ok=True)
    remove_leftovers(serving_dir)  # what a killed publish left behind; never a snapshot CURRENT names
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
    path = serving_dir / f"snapshot-{stamp}.duckdb"
    partial = serving_dir / f".{path.name}.partial"
    con = duckdb.connect(str(partial))
    try:
        escaped = str(warehouse).replace("'", "''")
        con.execute(f"attach '{escaped}' as wh (read_only)")
        champion = con.execute(
            "select model_version, family, horizon, features, metrics, train_start, train_end "
            "from wh.ml.model_registry where horizon = ? and is_champion",
            [horizon],
        ).fetchone()
        if champion is None:
            raise NotReadyError(
                f"no champion model for horizon {horizon} to publish: run `featurecast signals train --promote`"
            )
        con.execute(
            "create table model as select model_version, family, horizon, features, metrics, train_start, "
            "train_end from wh.ml.model_registry where model_version = ?",
            [champion[0]],
        )
        con.execute(
            "create table signals as select symbol, date, probability, raw_score, base_value, "
            "feature_values, contributions from wh.ml.signals where model_version = ? order by symbol, date",
            [champion[0]],
        )
        con.execute(
            "create table symbols as select symbol, last_date, sessions_behind, is_stale from wh.marts.dim_symbols"
        )
        con.execute(
            "create table quality as select rule, action, count(*) as findings, count(*) filter "
            "(where date >= (select max(date) from wh.marts.fct_daily_features) - interval 30 day) as findings_30d "
            "from wh.marts.fct_price_quarantine group by all"
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
        con.execute("create table forecast_calibration as select * from wh.marts.fct_forecast_calibration")
        con.execute(
            "create table forecaster_selection as select * from wh.marts.fct_forecaster_selection order by all"
            if _exists(con, "marts", "fct_forecaster_selection")
            else "create table forecaster_selection (portfolio varchar, horizon integer, model varchar, "
            "model_version varchar, selection_rank integer, is_champion boolean, eligible boolean, "
            "ineligible_because varchar)"  # a warehouse whose evaluation stage has not run since the mart exists
        )
        con.execute("create table var_backtest as select * from wh.marts.fct_var_backtest")
        con.execute("create table calibration_by_regime as select * from wh.marts.fct_forecast_calibration_by_regime")
        con.execute(
            "create table portfolios as select portfolio, min(date) as first_date, max(date) as last_date, "
            "arg_max(equity, date) as equity from wh.marts.fct_portfolio_daily group by portfolio"
        )
        _copy_backtest(con)
        # For the dashboard's charts: equity curves, every matured forecast, the champion's reliability.
        con.execute(
            "create table portfolio_daily as select portfolio, date, equity from wh.marts.fct_portfolio_daily "
            "order by portfolio, date"
        )
        con.execute(
            "create table forecast_evaluation as select portfolio, issue_date, horizon, target_date, model, q05, q50, "
            "q95, realised_return, in_band from wh.marts.fct_forecast_evaluation order by all"
        )
        con.execute(
            "create table reliability as select bin, bin_low, bin_high, mean_predicted, observed, count "
            "from wh.ml.reliability where model_version = ? order by bin",
            [champion[0]],
        )
        _copy_online_features(con, feature_sessions)
        con.execute(
            "create table meta as select (select max(date) from wh.marts.fct_daily_features) as data_last_date, "
            "current_timestamp::timestamp as published_at"
        )
        con.execute("detach wh")
    finally:
        con.close()
    # Durable before visible: the snapshot is on disk before CURRENT can name it, and CURRENT changes by
    # one atomic rename. A kill at any step leaves the previous snapshot current.
    replace_durably(partial, path)
    write_text_durably(serving_dir / POINTER, path.name)
    for old in sorted(serving_dir.glob("snapshot-*.duckdb"))[:-KEEP_SNAPSHOTS]:
        old.unlink(missing_ok=True)
    return path


BACKTEST_TABLES = {
    "backtest_run": "create table backtest_run (run_id varchar, created_at timestamp, model_version varchar, "
    "horizon integer, strategy json, start_date date, end_date date, sessions integer, symbols integer, "
    "seconds double, warnings json)",
    "backtest_metrics": "create table backtest_metrics (book varchar, metric varchar, value double, "
    "ci_low double, ci_high double)",
    "backtest_daily": "create table backtest_daily (book varchar, date date, net_return double, "
    "turnover double, exposure double, equity double, drawdown double)",
}


def _exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    found = con.execute(
        "select count(*) from information_schema.tables where table_catalog = 'wh' and table_schema = ? "
        "and table_name = ?",
        [schema, table],
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


def _copy_online_features(con: duckdb.DuckDBPyConnection, sessions: int) -> None:
    """Each symbol's newest `sessions` bars of every feature, and the market's newest `sessions` dates."""
    from featurecast.features import MARKET_MART, NOT_FEATURES, SYMBOL_MART

    marts = (("features", SYMBOL_MART, ["symbol", "date"]), ("market_features", MARKET_MART, ["date"]))
    for table, mart, keys in marts:
        schema, name = mart.split(".")
        columns = [
            row[0]
            for row in con.execute(
                "select column_name from information_schema.columns where table_catalog = 'wh' and "
                "table_schema = ? and table_name = ? order by ordinal_position",
                [schema, name],
            ).fetchall()
            if row[0] not in NOT_FEATURES
        ]
        partition = "partition by symbol " if "symbol" in keys else ""
        con.execute(
            f"create table {table} as select {', '.join(keys + columns)} from wh.{mart} "
            f"qualify row_number() over ({partition}order by date desc) <= ? order by {', '.join(keys)}",
            [sessions],
        )


@dataclass(frozen=True)
class FeatureRows:
    """Feature values by date: `values[i, j]` is feature `names[j]` on `dates[i]` (NaN when NULL)."""

    names: list[str]
    dates: np.ndarray  # datetime64[D], ascending
    values: np.ndarray  # dates x names, float64
    integral: np.ndarray  # per name: render as an integer (counts) rather than a float
    boolean: np.ndarray  # per name: render as true/false


def _feature_rows(frame: pd.DataFrame, names: list[str]) -> FeatureRows:
    kinds = [frame[n].dtype for n in names]
    return FeatureRows(
        names=names,
        dates=frame["date"].to_numpy(dtype="datetime64[D]"),
        values=frame[names].astype("float64").to_numpy(),
        integral=np.array([pd.api.types.is_integer_dtype(k) for k in kinds], dtype=bool),
        boolean=np.array([pd.api.types.is_bool_dtype(k) for k in kinds], dtype=bool),
    )


@dataclass(frozen=True)
class SymbolSignals:
    dates: np.ndarray  # datetime64[D], ascending
    probability: np.ndarray
    raw_score: np.ndarray
    base_value: np.ndarray
    feature_values: np.ndarray  # dates x features
    contributions: np.ndarray  # dates x features


@dataclass(frozen=True)
class Snapshot:
    name: str
    model_version: str
    family: str
    horizon: int
    features: list[str]
    metrics: dict[str, object]
    data_last_date: date
    published_at: datetime
    symbols: dict[str, SymbolSignals]
    symbol_freshness: dict[str, tuple[date, int, bool]]
    quality: list[dict[str, object]]
    forecasts: pd.DataFrame  # the latest issue date's forecasts per portfolio
    forecast_calibration: pd.DataFrame
    forecaster_selection: pd.DataFrame  # marts.fct_forecaster_selection: the champion per portfolio and horizon
    var_backtest: pd.DataFrame
    calibration_by_regime: pd.DataFrame
    portfolios: pd.DataFrame
    backtest_run: pd.DataFrame  # zero or one row
    backtest_metrics: pd.DataFrame
    backtest_daily: pd.DataFrame
    portfolio_daily: pd.DataFrame
    forecast_evaluation: pd.DataFrame
    reliability: pd.DataFrame
    online_features: dict[str, FeatureRows]  # per symbol, the newest bars (online feature store)
    online_market_features: FeatureRows


def load_snapshot(path: Path) -> Snapshot:
    con = duckdb.connect(str(path), read_only=True)
    try:
        version, family, horizon, features, metrics, _, _ = con.execute("select * from model").fetchone()
        data_last_date, published_at = con.execute("select * from meta").fetchone()
        frame = con.execute("select * from signals order by symbol, date").df()
        freshness = {s: (d, int(b or 0), bool(st)) for s, d, b, st in con.execute("select * from symbols").fetchall()}
        forecasts = con.execute("select * from forecasts order by portfolio, horizon, model").df()
        forecast_calibration = con.execute("select * from forecast_calibration order by all").df()
        forecaster_selection = con.execute("select * from forecaster_selection order by all").df()
        var_backtest = con.execute("select * from var_backtest order by all").df()
        calibration_by_regime = con.execute("select * from calibration_by_regime order by all").df()
        portfolios = con.execute("select * from portfolios order by portfolio").df()
        backtest = {name: con.execute(f"select * from {name} order by all").df() for name in BACKTEST_TABLES}
        charts = {
            name: con.execute(f"select * from {name} order by all").df()
            for name in ("portfolio_daily", "forecast_evaluation", "reliability")
        }
        features_frame = con.execute("select * from features order by symbol, date").df()
        market_frame = con.execute("select * from market_features order by date").df()
        quality = [
            dict(zip(["rule", "action", "findings", "findings_30d"], row, strict=True))
            for row in con.execute("select * from quality order by rule, action").fetchall()
        ]
    finally:
        con.close()
    symbols: dict[str, SymbolSignals] = {}
    for symbol, group in frame.groupby("symbol", sort=False):
        symbols[symbol] = SymbolSignals(
            dates=group["date"].to_numpy(dtype="datetime64[D]"),
            probability=group["probability"].to_numpy(),
            raw_score=group["raw_score"].to_numpy(),
            base_value=group["base_value"].to_numpy(),
            feature_values=np.vstack(group["feature_values"].to_numpy()),
            contributions=np.vstack(group["contributions"].to_numpy()),
        )
    feature_names = [c for c in features_frame.columns if c not in ("symbol", "date")]
    online = {
        str(symbol): _feature_rows(group, feature_names)
        for symbol, group in features_frame.groupby("symbol", sort=False)
    }
    market = _feature_rows(market_frame, [c for c in market_frame.columns if c != "date"])
    return Snapshot(
        path.name,
        version,
        family,
        int(horizon),
        list(features),
        json.loads(metrics),
        data_last_date,
        published_at,
        symbols,
        freshness,
        quality,
        forecasts,
        forecast_calibration,
        forecaster_selection,
        var_backtest,
        calibration_by_regime,
        portfolios,
        backtest["backtest_run"],
        backtest["backtest_metrics"],
        backtest["backtest_daily"],
        charts["portfolio_daily"],
        charts["forecast_evaluation"],
        charts["reliability"],
        online,
        market,
    )


class SnapshotStore:
    """The current snapshot, in memory; re-reads `CURRENT` at most every `check_interval` seconds."""

    def __init__(self, serving_dir: Path, check_interval: float = 1.0) -> None:
        self.serving_dir = serving_dir
        self._snapshot: Snapshot | None = None
        # With a snapshot in hand, one request refreshes and the others keep serving the old one;
        # before the first snapshot, every request waits for the one load in progress.
        self._refresher = PeriodicRefresh(self._refresh, lambda: self._snapshot is not None, check_interval)

    def current(self) -> Snapshot | None:
        self._refresher.poll()
        return self._snapshot

    def _refresh(self) -> None:
        try:
            name = (self.serving_dir / POINTER).read_text().strip()
        except FileNotFoundError:
            return
        if self._snapshot is not None and self._snapshot.name == name:
            return
        try:
            loaded = load_snapshot(self.serving_dir / name)
        except (duckdb.Error, OSError, ValueError) as exc:
            log.warning(
                "keeping snapshot %s: could not load %s (%s)",
                self._snapshot.name if self._snapshot else None,
                name,
                exc,
            )
            return
        self._snapshot = loaded
        log.info("serving snapshot %s (model %s)", name, loaded.model_version)
