"""DashboardService: the KPI panel and the dashboard page."""

from __future__ import annotations

import logging
import threading
from typing import Any

import numpy as np

from featurecast.api.services.backtests import BacktestService
from featurecast.api.services.common import (
    RenderedBodies,
    interval,
    records,
)
from featurecast.api.services.regimes import RegimeService, RegimesUnavailableError, UnknownScopeError
from featurecast.api.services.signals import MLSignalService

log = logging.getLogger(__name__)


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
        self.pages = RenderedBodies(limit=4)
        # One render at a time: 500 clients arriving together before the first render finished would
        # otherwise render the same page 500 times, each holding its own copy (the server stalled and grew
        # by 400 MB). They wait for the one render and then share its bytes.
        self._render = threading.RLock()

    def kpis_json(self) -> bytes:
        """The `/dashboard/kpis` body, rendered once per panel."""
        from featurecast.api.schemas import DashboardKpisOut

        with self._render:
            key, panel = self._current_panel()
            return self.bodies.get(key, lambda: DashboardKpisOut(**panel).model_dump_json().encode())

    def page(self) -> bytes:
        """The dashboard page's HTML, rendered once per panel (snapshot, regime labels, day)."""
        with self._render:
            key, _ = self._current_panel()
            return self.pages.get(key, lambda: dashboard_page(self).encode())

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
        with self._render:
            if self._panel is None or self._panel[0] != key:
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
                k: current.get(k)
                for k in (
                    "as_of",
                    "regime",
                    "mean_return_z",
                    "probability",
                    "probabilities",
                    "model_version",
                    "metadata",
                )
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
                # Qlib's report (None for models trained before it was kept)
                **{
                    f"{prefix}{name}": metrics[scorer].get(name)
                    for prefix, scorer in (("", "model"), ("baseline_", "baseline"))
                    for name in ("ic", "icir", "rank_icir")
                },
                "rank_ic_difference_interval": interval((metrics.get("comparison") or {}).get("rank_ic")),
                "log_loss": metrics["model"]["log_loss"],
                "ece": metrics["model"]["ece"],
                "auc_difference": (metrics.get("comparison") or {}).get("auc", {}).get("difference"),
                "auc_difference_interval": interval((metrics.get("comparison") or {}).get("auc")),
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
                panel["forecasts"] = records(
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
    from featurecast.api.dashboard_page import render_dashboard

    try:
        history = service.regimes.regime("market", limit=100_000)["history"] or []
    except (RegimesUnavailableError, UnknownScopeError):
        history = []
    return render_dashboard(service.kpis(), service.signals.store.current(), history)
