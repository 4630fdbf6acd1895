"""The forecast engine: 5th/50th/95th percentile forecasts of a portfolio's log return (and equity) over
h trading sessions, issued for every day, walk-forward.

Three forecasters, all walk-forward, so every forecast is out of sample by construction:
- `vol_normal` (the baseline): zero-mean normal with RiskMetrics EWMA volatility (lambda 0.94) scaled
  by sqrt(h);
- `conformal` (the calibrated model): the same volatility scale, but quantiles taken from the empirical
  distribution of past *standardised outcomes* (realised h-day return / (sigma * sqrt(h))) of forecasts
  whose target date has passed, over a trailing window. Each quantile level is then corrected online by
  adaptive conformal inference (Gibbs & Candes, 2021): when a quantile is hit more often than its level,
  the level used is lowered, and vice versa. Quantiles are sorted, so they never cross;
- `lgbm_quantile` (ml/forecasts/quantile.py): LightGBM quantile regression of the standardised outcome on
  volatility and trend state, refitted walk-forward with purge and conformalised online (CQR). It
  fixes what the other two miss at long horizons: volatility mean-reverts over 63 sessions.
A forecast issued on day t reads returns up to t and outcomes of forecasts whose target is on or before
t: appending future data changes no past forecast.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import norm

from ml.forecasts.quantile import QuantileConfig, quantile_forecasts

LEVELS = (0.05, 0.5, 0.95)
HORIZONS = (5, 21, 63)
MODELS = ("vol_normal", "conformal", "lgbm_quantile")


@dataclass(frozen=True)
class ForecastConfig:
    ewma_lambda: float = 0.94
    min_history: int = 63  # days of returns before the first forecast
    window: int = 750  # realised standardised outcomes the conformal quantiles are taken from
    min_outcomes: int = 100  # fewer realised outcomes: the conformal forecaster uses the normal quantiles
    aci_gamma: float = 0.005  # adaptive conformal step size
    quantile: QuantileConfig = field(default_factory=QuantileConfig)  # the lgbm_quantile forecaster

    def version(self, model: str) -> str:
        """A hash of what the model's forecasts depend on (the quantile settings only for lgbm_quantile)."""
        settings = asdict(self)
        if model != "lgbm_quantile":
            settings.pop("quantile")
        digest = hashlib.sha256(json.dumps([model, settings, LEVELS], sort_keys=True).encode()).hexdigest()
        return f"{model}-{digest[:10]}"


def ewma_volatility(returns: np.ndarray, lam: float) -> np.ndarray:
    """Daily volatility known at the close of each day (uses returns up to and including that day)."""
    variance = np.empty_like(returns)
    current = np.nanvar(returns[: min(len(returns), 21)]) if len(returns) else 0.0
    for i, r in enumerate(returns):
        current = lam * current + (1 - lam) * r * r
        variance[i] = current
    return np.sqrt(variance)


def forecast_portfolio(
    daily: pd.DataFrame,
    sessions: np.ndarray,
    config: ForecastConfig | None = None,
    horizons: tuple[int, ...] = HORIZONS,
    models: tuple[str, ...] = MODELS,
) -> pd.DataFrame:
    """Every forecast for one portfolio.

    `daily`: date, ret_1d, equity (one row per session, ascending); `sessions`: the exchange calendar's
    sessions (datetime64), which give each forecast's target date h sessions after its issue date.
    Returns one row per (issue_date, horizon, model) with log-return quantiles q05, q50, q95.
    """
    config = config or ForecastConfig()
    daily = daily.sort_values("date").reset_index(drop=True)
    returns = daily["ret_1d"].to_numpy(dtype=float)
    equity = daily["equity"].to_numpy(dtype=float)
    dates = daily["date"].to_numpy(dtype="datetime64[ns]")
    sigma = ewma_volatility(returns, config.ewma_lambda)
    z = norm.ppf(LEVELS)
    n = len(daily)
    rows = []
    for h in horizons:
        scale = sigma * np.sqrt(h)
        realised = np.full(n, np.nan)
        if n > h:
            realised[: n - h] = np.log(equity[h:] / equity[: n - h])
        outcomes: list[float] = []
        issued: dict[int, np.ndarray] = {}  # conformal quantiles by issue index, until their outcome is known
        levels = np.array(LEVELS, dtype=float)
        learned = (
            quantile_forecasts(returns, sigma, h, config.min_history, config.quantile) * scale[:, None]
            if "lgbm_quantile" in models
            else np.full((n, len(LEVELS)), np.nan)
        )
        for t in range(config.min_history, n):
            matured = t - h  # the forecast issued h sessions ago matures at today's close
            if matured >= config.min_history:
                outcomes.append(realised[matured] / scale[matured])
                hit = realised[matured] <= issued.pop(matured)
                levels = np.clip(levels + config.aci_gamma * (np.array(LEVELS) - hit), 0.001, 0.999)
            normal_q = z * scale[t]
            if len(outcomes) >= config.min_outcomes:
                conformal_q = np.sort(np.quantile(np.asarray(outcomes[-config.window :]), levels)) * scale[t]
            else:
                conformal_q = normal_q
            issued[t] = conformal_q
            for model, quantiles in (
                ("vol_normal", normal_q),
                ("conformal", conformal_q),
                ("lgbm_quantile", learned[t]),
            ):
                if model in models and np.isfinite(quantiles).all():
                    rows.append((dates[t], h, model, config.version(model), equity[t], sigma[t], *quantiles))
    frame = pd.DataFrame(
        rows,
        columns=[
            "issue_date",
            "horizon",
            "model",
            "model_version",
            "equity_at_issue",
            "daily_volatility",
            "q05",
            "q50",
            "q95",
        ],
    )
    position = np.searchsorted(sessions, frame["issue_date"].to_numpy(dtype="datetime64[ns]"))
    frame["target_date"] = sessions[np.minimum(position + frame["horizon"].to_numpy(), len(sessions) - 1)]
    for level in ("q05", "q50", "q95"):
        frame[f"equity_{level}"] = frame["equity_at_issue"] * np.exp(frame[level])
    return frame
