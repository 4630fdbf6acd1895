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

from ml.forecasts.names import BASELINE, MODELS, ForecasterName  # noqa: F401 - the registry, re-exported
from ml.forecasts.quantile import QuantileConfig, quantile_forecasts

LEVELS = (0.05, 0.5, 0.95)
HORIZONS = (5, 21, 63)


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


@dataclass(frozen=True)
class Prior:
    """What earlier issues of a portfolio left, for an incremental issue that only adds issue dates from
    index `start` on. Arrays are aligned to the portfolio's sessions up to `start` (NaN where nothing
    was issued): per horizon, the conformal log-return quantiles issued (the adaptive levels replay
    through their hits) and the lgbm_quantile model's raw standardised quantiles (its conformal scores)."""

    start: int
    conformal: dict[int, np.ndarray]  # horizon -> start x 3
    raw_quantile: dict[int, np.ndarray]  # horizon -> start x 3


@dataclass(frozen=True)
class ForecastRun:
    forecasts: pd.DataFrame  # one row per (issue_date, horizon, model), issue dates from `start` on
    raw_quantile: pd.DataFrame  # issue_date, horizon, raw_q05, raw_q50, raw_q95: lgbm_quantile's state


def forecast_portfolio(
    daily: pd.DataFrame,
    sessions: np.ndarray,
    config: ForecastConfig | None = None,
    horizons: tuple[int, ...] = HORIZONS,
    models: tuple[str, ...] = MODELS,
) -> pd.DataFrame:
    """Every forecast for one portfolio (a full issue; see run_forecasts for incremental issues).

    `daily`: date, ret_1d, equity (one row per session, ascending); `sessions`: the exchange calendar's
    sessions (datetime64), which give each forecast's target date h sessions after its issue date.
    Returns one row per (issue_date, horizon, model) with log-return quantiles q05, q50, q95.
    """
    return run_forecasts(daily, sessions, config, horizons, models).forecasts


def run_forecasts(
    daily: pd.DataFrame,
    sessions: np.ndarray,
    config: ForecastConfig | None = None,
    horizons: tuple[int, ...] = HORIZONS,
    models: tuple[str, ...] = MODELS,
    prior: Prior | None = None,
) -> ForecastRun:
    """The forecasts issued on the sessions from `prior.start` on (all sessions without a prior).

    With a prior the result equals the same rows of a full issue: every forecaster is walk-forward (an
    issue at t reads data up to t), and the state the later issues depend on (the conformal levels, the
    quantile model's scores) is rebuilt from the prior instead of recomputed. The cost is the new dates,
    plus one refit of the quantile model when a new date opens a refit window."""
    config = config or ForecastConfig()
    daily = daily.sort_values("date").reset_index(drop=True)
    returns = daily["ret_1d"].to_numpy(dtype=float)
    equity = daily["equity"].to_numpy(dtype=float)
    dates = daily["date"].to_numpy(dtype="datetime64[ns]")
    sigma = ewma_volatility(returns, config.ewma_lambda)
    z = norm.ppf(LEVELS)
    n = len(daily)
    start = max(config.min_history, prior.start if prior else 0)
    rows, raw_rows = [], []
    for h in horizons:
        scale = sigma * np.sqrt(h)
        realised = np.full(n, np.nan)
        if n > h:
            realised[: n - h] = np.log(equity[h:] / equity[: n - h])
        standardised = realised / scale
        conformal = np.full((n, len(LEVELS)), np.nan)  # issued conformal quantiles (log return)
        if prior is not None:
            conformal[: prior.start] = prior.conformal[h][: prior.start]
        if "lgbm_quantile" in models:
            learned, raw = quantile_forecasts(
                returns,
                sigma,
                h,
                config.min_history,
                config.quantile,
                start=start,
                prior_raw=prior.raw_quantile[h] if prior is not None else None,
            )
            learned = learned * scale[:, None]
            valid = np.isfinite(raw).all(axis=1)
            valid[:start] = False
            raw_rows += [(dates[t], h, *raw[t]) for t in np.flatnonzero(valid)]
        else:
            learned = np.full((n, len(LEVELS)), np.nan)
        levels = np.array(LEVELS, dtype=float)
        for t in range(config.min_history, n):
            matured = t - h  # the forecast issued h sessions ago matures at today's close
            if matured >= config.min_history:
                hit = realised[matured] <= conformal[matured]
                levels = np.clip(levels + config.aci_gamma * (np.array(LEVELS) - hit), 0.001, 0.999)
            if t < start:
                continue  # issued before: only the levels are replayed
            normal_q = z * scale[t]
            known = t - h + 1 - config.min_history  # standardised outcomes matured by t
            if known >= config.min_outcomes:
                window = standardised[max(config.min_history, t - h + 1 - config.window) : t - h + 1]
                conformal[t] = np.sort(np.quantile(window, levels)) * scale[t]
            else:
                conformal[t] = normal_q
            for model, quantiles in (
                ("vol_normal", normal_q),
                ("conformal", conformal[t]),
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
    frame["target_date"] = sessions[np.minimum(position + frame["horizon"].to_numpy(dtype=int), len(sessions) - 1)]
    for level in ("q05", "q50", "q95"):
        frame[f"equity_{level}"] = frame["equity_at_issue"] * np.exp(frame[level])
    raw_frame = pd.DataFrame(raw_rows, columns=["issue_date", "horizon", "raw_q05", "raw_q50", "raw_q95"])
    return ForecastRun(frame, raw_frame)
