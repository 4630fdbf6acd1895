"""Serving snapshots, read side: what the API reads, never the live warehouse.

The pipeline publishes a snapshot (`flows/publish.py`): a self-contained DuckDB file under the serving
directory, named by `CURRENT`. `SnapshotStore` notices a new `CURRENT`, loads the snapshot into memory
(once), and swaps it in; requests keep using the previous snapshot until the new one is fully loaded, and
keep it if loading fails. The constants below are the format both sides share.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from featurecast.api.periodic import PeriodicRefresh
from featurecast.duckdb_rows import one_row

log = logging.getLogger(__name__)
POINTER = "CURRENT"
KEEP_SNAPSHOTS = 3
ONLINE_FEATURE_SESSIONS = 260  # about a year of bars per symbol for GET /features/{symbol}
# The backtest tables a snapshot carries (empty when no backtest has run).
BACKTEST_TABLES = {
    "backtest_run": "create table backtest_run (run_id varchar, created_at timestamp, model_version varchar, "
    "horizon integer, strategy json, start_date date, end_date date, sessions integer, symbols integer, "
    "seconds double, warnings json)",
    "backtest_metrics": "create table backtest_metrics (book varchar, metric varchar, value double, "
    "ci_low double, ci_high double)",
    "backtest_daily": "create table backtest_daily (book varchar, date date, net_return double, "
    "turnover double, exposure double, equity double, drawdown double)",
}


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
    metrics: dict[str, Any]
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
        version, family, horizon, features, metrics, _, _ = one_row(con, "select * from model")
        data_last_date, published_at = one_row(con, "select * from meta")
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
