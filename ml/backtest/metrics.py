"""Performance metrics of a daily return series, and a bootstrap interval for a Sharpe-ratio difference.

Conventions: 252 sessions a year, a zero risk-free rate, simple daily returns. The interval for the
Sharpe improvement resamples the paired daily returns with the stationary block bootstrap (Politis and
Romano) from `arch`, so autocorrelation and the pairing of the two books survive resampling.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

PERIODS = 252


def sharpe(returns: np.ndarray) -> float:
    sd = np.std(returns, ddof=1)
    return float(np.mean(returns) / sd * np.sqrt(PERIODS)) if sd > 0 else float("nan")


def performance(returns: pd.Series, turnover: pd.Series | None = None) -> dict[str, float]:
    """Annualised return and volatility, Sharpe, Sortino, max drawdown, Calmar, hit rate, turnover."""
    r = returns.to_numpy(dtype=float)
    n = len(r)
    equity = np.cumprod(1.0 + r)
    ann_return = float(equity[-1] ** (PERIODS / n) - 1.0) if n else float("nan")
    downside = np.sqrt(np.mean(np.minimum(r, 0.0) ** 2))
    peak = np.maximum.accumulate(np.concatenate([[1.0], equity]))[1:]
    max_drawdown = float(np.min(equity / peak - 1.0)) if n else float("nan")
    active = r[r != 0]
    return {
        "sessions": float(n),
        "total_return": float(equity[-1] - 1.0) if n else float("nan"),
        "annual_return": ann_return,
        "annual_volatility": float(np.std(r, ddof=1) * np.sqrt(PERIODS)),
        "sharpe": sharpe(r),
        "sortino": float(np.mean(r) / downside * np.sqrt(PERIODS)) if downside > 0 else float("nan"),
        "max_drawdown": max_drawdown,
        "calmar": ann_return / abs(max_drawdown) if max_drawdown < 0 else float("nan"),
        "hit_rate": float(np.mean(active > 0)) if len(active) else float("nan"),
        "annual_turnover": float(turnover.mean() * PERIODS) if turnover is not None else float("nan"),
    }


def information_ratio(returns: pd.Series, benchmark: pd.Series) -> float:
    """Annualised mean active return over its tracking error."""
    active = (returns - benchmark.reindex(returns.index).fillna(0.0)).to_numpy(dtype=float)
    sd = np.std(active, ddof=1)
    return float(np.mean(active) / sd * np.sqrt(PERIODS)) if sd > 0 else float("nan")


def sharpe_difference_interval(
    returns: pd.Series,
    benchmark: pd.Series,
    *,
    samples: int = 1000,
    block: int = 10,
    level: float = 0.90,
    seed: int = 0,
) -> tuple[float, float, float]:
    """Sharpe(returns) - Sharpe(benchmark) and its percentile interval from a stationary bootstrap."""
    from arch.bootstrap import StationaryBootstrap

    a = returns.to_numpy(dtype=float)
    b = benchmark.reindex(returns.index).fillna(0.0).to_numpy(dtype=float)
    point = sharpe(a) - sharpe(b)
    bootstrap = StationaryBootstrap(block, a, b, seed=seed)
    draws = np.array([sharpe(x) - sharpe(y) for (x, y), _ in bootstrap.bootstrap(samples)])
    draws = draws[np.isfinite(draws)]
    tail = (1.0 - level) / 2.0
    return point, float(np.quantile(draws, tail)), float(np.quantile(draws, 1.0 - tail))
