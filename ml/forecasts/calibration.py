"""Calibration of forecasts against what happened, in Python (the SQL twin for analysts is the dbt marts).

Used by the calibration tests and bench/forecasts.py on long synthetic histories, where building a dbt
warehouse for decades of data would only add time.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

LEVELS = {"q05": 0.05, "q50": 0.5, "q95": 0.95}


def equal_weight_history(prices: pd.DataFrame) -> pd.DataFrame:
    """Daily log return and equity of an equal-weight, daily-rebalanced book over OHLCV `prices`."""
    wide = prices.pivot(index="date", columns="symbol", values="close")
    ret = np.log(np.exp(np.log(wide / wide.shift())).mean(axis=1)).dropna()
    daily = pd.DataFrame({"date": pd.to_datetime(ret.index), "ret_1d": ret.to_numpy()})
    daily["equity"] = np.exp(daily["ret_1d"].cumsum())
    return daily


def attach_outcomes(forecasts: pd.DataFrame, daily: pd.DataFrame) -> pd.DataFrame:
    """Forecasts whose target date is in `daily`, with the realised log return from issue to target."""
    equity = daily.set_index("date")["equity"]
    out = forecasts.copy()
    out["realised"] = np.log(equity.reindex(out["target_date"]).to_numpy() / out["equity_at_issue"].to_numpy())
    return out.dropna(subset=["realised"])


def calibration_table(scored: pd.DataFrame, *, common_dates: bool = True) -> pd.DataFrame:
    """Per (model, horizon): 5-95 coverage, each quantile's hit rate, and mean pinball loss per quantile.

    With `common_dates`, every model is scored on the (issue date, horizon) pairs all models forecast,
    so the comparison is on the same outcomes.
    """
    if common_dates:
        models = scored["model"].nunique()
        counts = scored.groupby(["issue_date", "horizon"])["model"].transform("nunique")
        scored = scored[counts == models]
    rows = []
    for (model, horizon), group in scored.groupby(["model", "horizon"]):
        r = group["realised"].to_numpy()
        row = {"model": model, "horizon": horizon, "forecasts": len(group)}
        row["coverage_5_95"] = float(np.mean((r >= group["q05"]) & (r <= group["q95"])))
        for name, level in LEVELS.items():
            q = group[name].to_numpy()
            row[f"hit_{name}"] = float(np.mean(r < q))
            row[f"pinball_{name}"] = float(np.mean(np.maximum(level * (r - q), (level - 1) * (r - q))))
        rows.append(row)
    return pd.DataFrame(rows)
