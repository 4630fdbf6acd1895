"""The ServiceFactory and the services it registers (MLSignalService first).

Routes never build services themselves: they ask the factory for a service by name through a FastAPI
dependency, so tests and later phases (regimes, forecasts, backtests) plug in the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from app.periodic import PeriodicRefresh
from app.snapshot import Snapshot, SnapshotStore

log = logging.getLogger(__name__)


class UnknownServiceError(KeyError):
    pass


class ServiceFactory:
    """A registry of named services, each built once on first use."""

    def __init__(self) -> None:
        self._builders: dict[str, Callable[[], Any]] = {}
        self._instances: dict[str, Any] = {}

    def register(self, name: str, builder: Callable[[], Any]) -> None:
        if name in self._builders:
            raise ValueError(f"service {name!r} is already registered")
        self._builders[name] = builder

    def names(self) -> list[str]:
        return sorted(self._builders)

    def get(self, name: str) -> Any:
        if name not in self._builders:
            raise UnknownServiceError(name)
        if name not in self._instances:
            self._instances[name] = self._builders[name]()
        return self._instances[name]


NO_SNAPSHOT = (
    "no serving snapshot has been published yet: the daily flow's last step publishes it (`featurecast run`, "
    "or `featurecast publish` after training a champion)"
)


class SignalsUnavailableError(RuntimeError):
    """No snapshot has been published yet."""


class UnknownSymbolError(LookupError):
    pass


class NoSignalError(LookupError):
    """The symbol is known but has no signal on or before the requested date."""


@dataclass(frozen=True)
class Contribution:
    feature: str
    value: float | None
    contribution: float


@dataclass(frozen=True)
class Signal:
    symbol: str
    as_of: date
    probability: float
    raw_score: float
    base_value: float
    model_version: str
    model_family: str
    horizon_sessions: int
    top_contributions: list[Contribution]
    data_last_date: date
    snapshot: str
    stale: bool
    stale_reasons: list[str]


class RenderedBodies:
    """An explicit, bounded cache of JSON response bodies, keyed by everything a body depends on (the
    snapshot or regime marker, the request's parameters, the day). A repeated request then skips the
    response model and the JSON encoder, which cost ten times the lookup behind them. When full it is
    emptied, so hostile parameter values cannot grow it."""

    def __init__(self, limit: int = 8192) -> None:
        self.limit = limit
        self._bodies: dict[tuple[Any, ...], bytes] = {}

    def get(self, key: tuple[Any, ...], render: Callable[[], bytes]) -> bytes:
        body = self._bodies.get(key)
        if body is None:
            body = render()
            if len(self._bodies) >= self.limit:
                self._bodies = {}
            self._bodies[key] = body
        return body


def stale_reasons(
    snapshot: Snapshot,
    symbol: str,
    latest_served: date | None,
    *,
    today: date,
    max_data_age_days: int,
    max_sessions_behind: int,
    what: str,
) -> list[str]:
    """Why an answer for `symbol` from `snapshot` is stale (empty when fresh). `latest_served` is the date
    of what a "latest" request got (None for an as-of request, which asked for the past)."""
    reasons = []
    age = (today - snapshot.data_last_date).days
    if age > max_data_age_days:
        reasons.append(f"the newest market data is from {snapshot.data_last_date}, {age} days ago")
    last_date, behind, _ = snapshot.symbol_freshness.get(symbol, (None, 0, False))
    if behind > max_sessions_behind:
        reasons.append(f"{symbol}'s feed is {behind} sessions behind the market (last bar {last_date})")
    if latest_served is not None and latest_served < snapshot.data_last_date:
        reasons.append(
            f"the latest {what} for {symbol} is from {latest_served}, the data runs to {snapshot.data_last_date}"
        )
    return reasons


class FreshnessAwareService:
    """A service answering per symbol from the current snapshot, with the freshness limits its answers are
    judged stale by and a cache of rendered bodies."""

    def __init__(
        self,
        store: SnapshotStore,
        *,
        max_data_age_days: int = 4,
        max_sessions_behind: int = 3,
        today: Callable[[], date] | None = None,
    ) -> None:
        self.store = store
        self.max_data_age_days = max_data_age_days
        self.max_sessions_behind = max_sessions_behind
        self.today = today or (lambda: datetime.now(UTC).date())
        self.bodies = RenderedBodies()

    def stale_reasons(self, snapshot: Snapshot, symbol: str, latest_served: date | None, what: str) -> list[str]:
        return stale_reasons(
            snapshot,
            symbol,
            latest_served,
            today=self.today(),
            max_data_age_days=self.max_data_age_days,
            max_sessions_behind=self.max_sessions_behind,
            what=what,
        )


class MLSignalService(FreshnessAwareService):
    """Serves precomputed signals from the current snapshot: a dictionary lookup, no model work."""

    def signal_json(self, symbol: str, as_of: date | None = None, k: int = 5) -> bytes:
        """The `/signals/{symbol}` response body, rendered once per snapshot, symbol, as_of, k and day."""
        from app.schemas import SignalOut

        snapshot = self.store.current()
        key = (snapshot.name if snapshot else None, symbol, as_of, k, self.today())
        return self.bodies.get(
            key, lambda: SignalOut(**asdict(self.signal(symbol, as_of, k))).model_dump_json().encode()
        )

    def signal(self, symbol: str, as_of: date | None = None, k: int = 5) -> Signal:
        snapshot = self.store.current()
        if snapshot is None:
            raise SignalsUnavailableError(NO_SNAPSHOT)
        series = snapshot.symbols.get(symbol)
        if series is None:
            raise UnknownSymbolError(symbol)
        position = len(series.dates) - 1
        if as_of is not None:
            position = int(np.searchsorted(series.dates, np.datetime64(as_of, "D"), side="right")) - 1
            if position < 0:
                raise NoSignalError(
                    f"no signal for {symbol} on or before {as_of}; the first is {series.dates[0].astype(date)}"
                )
        contributions = series.contributions[position]
        order = np.argsort(-np.abs(contributions))[:k]
        values = series.feature_values[position]
        top = [
            Contribution(
                snapshot.features[i], None if np.isnan(values[i]) else float(values[i]), float(contributions[i])
            )
            for i in order
        ]
        signal_date = series.dates[position].astype(date)
        reasons = self.stale_reasons(snapshot, symbol, signal_date if as_of is None else None, "signal")
        return Signal(
            symbol=symbol,
            as_of=signal_date,
            probability=float(series.probability[position]),
            raw_score=float(series.raw_score[position]),
            base_value=float(series.base_value[position]),
            model_version=snapshot.model_version,
            model_family=snapshot.family,
            horizon_sessions=snapshot.horizon,
            top_contributions=top,
            data_last_date=snapshot.data_last_date,
            snapshot=snapshot.name,
            stale=bool(reasons),
            stale_reasons=reasons,
        )


class RegimesUnavailableError(RuntimeError):
    """The regime store has no model yet."""


class UnknownScopeError(LookupError):
    pass


@dataclass(frozen=True)
class RegimeView:
    """One scope's current regime model and all its labels, oldest first, held in memory."""

    model: dict[str, Any]
    dates: np.ndarray  # datetime64[D], ascending
    labels: list[dict[str, Any]]


class RegimeService:
    """Current and historical regime labels, served from memory; the regime store (MongoDB through
    pymongo) stays the system of record that the nightly flow writes.

    Every `check_interval` seconds each scope's current model document is read (a single small document
    with a change marker written after each batch of labels; in the server by a background thread, so no
    request waits on the store) and that scope's labels are reloaded only when the marker changed; every
    request answers from the arrays in memory (searchsorted, well
    under a millisecond, the same at any history length). The store is opened for each check and closed
    after it, so no connection is shared between request threads (the embedded store's SQLite connection
    belongs to the thread that made it). If a check fails, the last good view keeps being served."""

    def __init__(
        self, store_factory: Callable[[], tuple[Any, Any]], *, check_interval: float = 1.0, background: bool = False
    ) -> None:
        self._store_factory = store_factory
        self._views: dict[str, RegimeView] | None = None
        self._markers: dict[str, tuple[Any, ...]] = {}
        # The server checks in a thread (no request waits on the store); tests check inline, deterministically.
        self._refresher = PeriodicRefresh(
            self._refresh, lambda: self._views is not None, check_interval, background=background
        )
        self.bodies = RenderedBodies()

    @property
    def check_interval(self) -> float:
        return self._refresher.interval

    @check_interval.setter
    def check_interval(self, seconds: float) -> None:
        self._refresher.interval = seconds

    def views(self) -> dict[str, RegimeView]:
        self._refresher.poll()
        return self._views or {}

    def regime_json(
        self, scope: str, *, start: date | None = None, end: date | None = None, limit: int | None = None
    ) -> bytes:
        """The `/market-data/regime` body, rendered once per labels marker and parameters."""
        from app.schemas import RegimeOut

        key = (self.marker(scope), scope, start, end, limit)
        return self.bodies.get(
            key, lambda: RegimeOut(**self.regime(scope, start=start, end=end, limit=limit)).model_dump_json().encode()
        )

    def marker(self, scope: str) -> tuple[Any, ...] | None:
        """What identifies the labels served for `scope` now (changes when the store's marker moves)."""
        self.views()
        return self._markers.get(scope) if scope in (self._views or {}) else None

    def _refresh(self) -> None:
        try:
            store, client = self._store_factory()
        except Exception as exc:  # an unreachable store must not take the API down
            log.warning("regime store unavailable, keeping the last view: %s", exc)
            return
        try:
            views = dict(self._views or {})
            for scope in store.scopes():
                model = store.current_model(scope)
                if model is None:
                    continue
                marker = (model["model_version"], model.get("labels_through"), model.get("labels_written_at"))
                if scope in views and self._markers.get(scope) == marker:
                    continue
                labels = store.history(scope, model["model_version"], limit=10**9)[::-1]
                if labels:
                    dates = np.array([doc["date"] for doc in labels], dtype="datetime64[D]")
                    views[scope] = RegimeView(model, dates, labels)
                    self._markers[scope] = marker
            self._views = views
        except Exception as exc:  # keep serving the last good view
            log.warning("could not refresh regimes, keeping the last view: %s", exc)
            if self._views is None:
                self._views = {}
        finally:
            client.close()

    def regime(
        self, scope: str, *, start: date | None = None, end: date | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        if start and end and start > end:
            raise ValueError(f"start {start} is after end {end}")
        view = self.views().get(scope)
        if view is None:
            if scope != "market":
                raise UnknownScopeError(scope)
            raise RegimesUnavailableError(
                "no regime labels yet: the daily flow's regime step writes them (`featurecast run`, or "
                "`featurecast regimes refresh`)"
            )
        latest = view.labels[-1]
        history = None
        if start or end or limit:
            low = 0 if start is None else int(np.searchsorted(view.dates, np.datetime64(start, "D"), side="left"))
            high = len(view.dates)
            if end is not None:
                high = int(np.searchsorted(view.dates, np.datetime64(end, "D"), side="right"))
            low = max(low, high - (limit or 100))
            history = view.labels[low:high][::-1]
        return {
            **latest,
            "as_of": latest["date"],
            "metadata": view.model["metadata"],
            "model_fit_window": [view.model["fit_start"], view.model["fit_end"]],
            "history": history,
        }


class DashboardService:
    """The KPI panel: regime metadata beside signal quality, coverage, data freshness and anomalies."""

    def __init__(
        self, signals: MLSignalService, regimes: RegimeService, backtests: BacktestService | None = None
    ) -> None:
        self.signals = signals
        self.regimes = regimes
        self.backtests = backtests
        self._panel: tuple[tuple[Any, ...], dict[str, Any]] | None = None
        self.bodies = RenderedBodies(limit=16)

    def kpis_json(self) -> bytes:
        """The `/dashboard/kpis` body, rendered once per panel."""
        from app.schemas import DashboardKpisOut

        key, panel = self._current_panel()
        return self.bodies.get(key, lambda: DashboardKpisOut(**panel).model_dump_json().encode())

    def kpis(self) -> dict[str, Any]:
        """The panel, computed once per (snapshot, regime labels, day) and then served as is: it changes
        only when the nightly flow publishes, so requests in between cost a dictionary lookup."""
        return self._current_panel()[1]

    def _current_panel(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        snapshot = self.signals.store.current()
        key = (snapshot.name if snapshot else None, self.regimes.marker("market"), self.signals.today())
        cached = self._panel
        if cached is not None and cached[0] == key:
            return cached
        self._panel = (key, self._compute())
        return self._panel

    def _compute(self) -> dict[str, Any]:
        panel: dict[str, Any] = {
            "regime": None,
            "signals": None,
            "data": None,
            "anomalies": None,
            "forecasts": None,
            "backtest": self.backtests.kpi() if self.backtests else None,
        }
        try:
            current = self.regimes.regime("market")
            panel["regime"] = {
                k: current[k] for k in ("as_of", "regime", "probability", "probabilities", "model_version", "metadata")
            }
        except (RegimesUnavailableError, UnknownScopeError):
            pass
        snapshot = self.signals.store.current()
        if snapshot is not None:
            metrics = snapshot.metrics
            latest = np.datetime64(snapshot.data_last_date, "D")
            covered = sum(1 for s in snapshot.symbols.values() if s.dates[-1] == latest)
            panel["signals"] = {
                "model_version": snapshot.model_version,
                "horizon_sessions": snapshot.horizon,
                "auc": metrics["model"]["auc"],
                "baseline_auc": metrics["baseline"]["auc"],
                "rank_ic": metrics["model"]["rank_ic"],
                "baseline_rank_ic": metrics["baseline"]["rank_ic"],
                "log_loss": metrics["model"]["log_loss"],
                "ece": metrics["model"]["ece"],
                "auc_difference": (metrics.get("comparison") or {}).get("auc", {}).get("difference"),
                "auc_difference_interval": _interval((metrics.get("comparison") or {}).get("auc")),
                "predicts_base_rate": metrics["model"].get("predicts_base_rate"),
                "coverage": covered / max(len(snapshot.symbol_freshness), 1),
                "symbols_with_signal": covered,
                "symbols": len(snapshot.symbol_freshness),
            }
            panel["data"] = {
                "data_last_date": snapshot.data_last_date,
                "age_days": (self.signals.today() - snapshot.data_last_date).days,
                "stale_symbols": sorted(s for s, (_, _, stale) in snapshot.symbol_freshness.items() if stale),
                "snapshot": snapshot.name,
                "published_at": snapshot.published_at,
            }
            panel["anomalies"] = snapshot.quality
            calibration = snapshot.forecast_calibration
            backtest = snapshot.var_backtest
            if not calibration.empty:
                merged = calibration.merge(backtest, on=["portfolio", "model", "model_version", "horizon"])
                merged = merged.merge(
                    snapshot.forecaster_selection[["portfolio", "model_version", "horizon", "is_champion", "eligible"]],
                    on=["portfolio", "model_version", "horizon"],
                    how="left",
                )
                merged["champion"] = merged["is_champion"].fillna(False).astype(bool)
                merged = merged.sort_values(["portfolio", "horizon", "model"])
                panel["forecasts"] = _records(
                    merged[
                        [
                            "portfolio",
                            "model",
                            "horizon",
                            "coverage_5_95",
                            "hit_rate_q05",
                            "mean_pinball_q50",
                            "kupiec_pass",
                            "christoffersen_pass",
                            "champion",
                            "eligible",
                        ]
                    ]
                )
        return panel


def dashboard_page(service: DashboardService) -> str:
    """The dashboard page's HTML: the KPI panel, the charts and the signal table (app/dashboard_page.py)."""
    from app.dashboard_page import render_dashboard

    try:
        history = service.regimes.regime("market", limit=100_000)["history"] or []
    except (RegimesUnavailableError, UnknownScopeError):
        history = []
    return render_dashboard(service.kpis(), service.signals.store.current(), history)


class UnknownPortfolioError(LookupError):
    pass


class ForecastsUnavailableError(RuntimeError):
    """No forecasts have been published yet."""


class ForecastNotIssuedError(LookupError):
    """A forecaster issues no forecasts for this portfolio (its history is too short for that model)."""


def _interval(row: dict[str, float] | None) -> list[float] | None:
    return [row["ci_low"], row["ci_high"]] if row else None


def _records(frame: Any) -> list[dict[str, Any]]:
    """DataFrame rows as plain dicts with Python scalars (NaN as None). Timestamps become dates, except in
    columns named `*_at`, which are instants: those keep their time of day, in UTC."""
    out = []
    for row in frame.to_dict(orient="records"):
        clean = {}
        for key, value in row.items():
            if isinstance(value, pd.Timestamp) and key.endswith("_at"):
                value = value.to_pydatetime().replace(tzinfo=UTC) if value.tzinfo is None else value.to_pydatetime()
            elif hasattr(value, "date") and callable(value.date):
                value = value.date()
            elif isinstance(value, float) and np.isnan(value):
                value = None
            elif isinstance(value, np.generic):
                value = value.item()
            clean[key] = value
        out.append(clean)
    return out


class PortfolioService:
    """The named portfolios (equal_weight over the universe, plus seeds/portfolio_weights.csv)."""

    def __init__(self, store: SnapshotStore) -> None:
        self.store = store

    def portfolio(self, name: str) -> dict[str, Any]:
        snapshot = self.store.current()
        if snapshot is None:
            raise SignalsUnavailableError(NO_SNAPSHOT)
        found = snapshot.portfolios[snapshot.portfolios["portfolio"] == name]
        if found.empty:
            known = ", ".join(snapshot.portfolios["portfolio"]) or "none"
            raise UnknownPortfolioError(f"unknown portfolio {name!r}; known: {known}")
        return _records(found)[0]


class ForecastService:
    """The latest percentile forecasts of a portfolio and the evaluation of past ones, from the snapshot."""

    def __init__(self, store: SnapshotStore, portfolios: PortfolioService) -> None:
        self.store = store
        self.portfolios = portfolios

    def forecast(self, name: str, *, model: str | None = None, horizon: int | None = None) -> dict[str, Any]:
        """The newest forecasts of `name`: by `model`, or by default each horizon's champion forecaster
        (marts.fct_forecaster_selection; the baseline vol_normal where nothing has matured to judge yet)."""
        portfolio = self.portfolios.portfolio(name)
        snapshot = self.store.current()
        mine = snapshot.forecasts[snapshot.forecasts["portfolio"] == name]
        if mine.empty:
            raise ForecastsUnavailableError(
                f"no forecasts published for {name} yet: the daily flow issues them (`featurecast run`, or "
                "`featurecast forecasts issue` then `featurecast publish`)"
            )
        selection = snapshot.forecaster_selection
        selection = selection[selection["portfolio"] == name]
        if model is None:
            champions = selection[selection["is_champion"]].set_index("horizon")
            chosen = mine["horizon"].map(lambda h: champions["model"].get(h, "vol_normal"))
            rows = mine[mine["model"] == chosen]
        else:
            rows = mine[mine["model"] == model]
        if rows.empty:
            issued = ", ".join(sorted(mine["model"].unique()))
            raise ForecastNotIssuedError(
                f"{model} issues no forecasts for {name}: the portfolio's history ({portfolio['first_date']} to "
                f"{portfolio['last_date']}) is too short for that model; forecasters with forecasts for it: {issued}"
            )
        available = sorted(int(h) for h in rows["horizon"].unique())
        if horizon is not None:
            if horizon not in available:
                raise ValueError(f"horizon must be one of {', '.join(map(str, available))} sessions, got {horizon}")
            rows = rows[rows["horizon"] == horizon]
        verdicts = selection.set_index(["horizon", "model"])
        first = rows.iloc[0]
        versions = rows["model_version"].unique()
        return {
            "portfolio": name,
            "as_of": first["issue_date"].date(),
            "equity_at_issue": float(first["equity_at_issue"]),
            "equity_last_date": portfolio["last_date"],
            "model": model or "champion",
            "model_version": versions[0] if len(versions) == 1 else None,
            "horizons": [
                {
                    "horizon_sessions": int(r["horizon"]),
                    "model": r["model"],
                    "model_version": r["model_version"],
                    **_verdict(verdicts, int(r["horizon"]), r["model"]),
                    "target_date": r["target_date"].date(),
                    "return_q05": float(r["q05"]),
                    "return_q50": float(r["q50"]),
                    "return_q95": float(r["q95"]),
                    "equity_q05": float(r["equity_q05"]),
                    "equity_q50": float(r["equity_q50"]),
                    "equity_q95": float(r["equity_q95"]),
                }
                for _, r in rows.sort_values("horizon").iterrows()
            ],
        }

    def evaluation(self, name: str) -> dict[str, Any]:
        self.portfolios.portfolio(name)
        snapshot = self.store.current()
        calibration = snapshot.forecast_calibration
        backtest = snapshot.var_backtest
        by_regime = snapshot.calibration_by_regime
        selection = snapshot.forecaster_selection
        return {
            "portfolio": name,
            "calibration": _records(calibration[calibration["portfolio"] == name].drop(columns="portfolio")),
            "var_backtest": _records(backtest[backtest["portfolio"] == name].drop(columns="portfolio")),
            "by_regime": _records(by_regime[by_regime["portfolio"] == name].drop(columns="portfolio")),
            "selection": _records(selection[selection["portfolio"] == name].drop(columns="portfolio")),
        }


def _verdict(selection: pd.DataFrame, horizon: int, model: str) -> dict[str, Any]:
    """What the selection rule says of a forecaster at a horizon (nothing before any forecast matured)."""
    if (horizon, model) not in selection.index:
        return {"champion": False, "eligible": None, "ineligible_because": "no matured forecasts to judge yet"}
    row = selection.loc[(horizon, model)]
    reason = row["ineligible_because"]
    return {
        "champion": bool(row["is_champion"]),
        "eligible": bool(row["eligible"]),
        "ineligible_because": None if pd.isna(reason) else str(reason),
    }


class BacktestsUnavailableError(RuntimeError):
    """No backtest has been published yet."""


class BacktestService:
    """The newest backtest of the champion's signals (run by the daily flow), from the snapshot."""

    def __init__(self, store: SnapshotStore) -> None:
        self.store = store

    def latest(self) -> dict[str, Any]:
        snapshot = self.store.current()
        if snapshot is None or snapshot.backtest_run.empty:
            raise BacktestsUnavailableError(
                "no backtest has been published yet: the daily flow runs and publishes it (`featurecast run`, or "
                "`featurecast backtest` then `featurecast publish`)"
            )
        run = _records(snapshot.backtest_run)[0]
        metrics = snapshot.backtest_metrics
        books = [
            {"book": book, "metrics": _records(group.drop(columns="book"))}
            for book, group in metrics.groupby("book", sort=True)
        ]
        improvement = {
            m["metric"]: m for m in _records(metrics[metrics["metric"].str.startswith("sharpe_improvement")])
        }
        return {
            "run_id": run["run_id"],
            "created_at": run["created_at"],
            "model_version": run["model_version"],
            "horizon_sessions": run["horizon"],
            "strategy": json.loads(run["strategy"]),
            "start_date": run["start_date"],
            "end_date": run["end_date"],
            "sessions": run["sessions"],
            "symbols": run["symbols"],
            "warnings": json.loads(run["warnings"]) if run.get("warnings") else [],
            "books": books,
            "sharpe_improvement_vs_buy_and_hold": improvement["sharpe_improvement_vs_buy_and_hold"],
            "sharpe_improvement_vs_momentum": improvement["sharpe_improvement_vs_momentum"],
        }

    def kpi(self) -> dict[str, Any] | None:
        try:
            latest = self.latest()
        except BacktestsUnavailableError:
            return None
        value = {(b["book"], m["metric"]): m["value"] for b in latest["books"] for m in b["metrics"]}
        improvement = latest["sharpe_improvement_vs_buy_and_hold"]
        return {
            "run_id": latest["run_id"],
            "sharpe": value.get(("strategy", "sharpe")),
            "buy_and_hold_sharpe": value.get(("buy_and_hold", "sharpe")),
            "momentum_sharpe": value.get(("momentum", "sharpe")),
            "sharpe_improvement_vs_buy_and_hold": improvement["value"],
            "ci_low": improvement["ci_low"],
            "ci_high": improvement["ci_high"],
            "max_drawdown": value.get(("strategy", "max_drawdown")),
            "annual_turnover": value.get(("strategy", "annual_turnover")),
        }
