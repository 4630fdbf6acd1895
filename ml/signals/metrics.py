"""Classification and ranking metrics for direction signals: plain functions over arrays and frames.

Scoring rules come from scikit-learn; the quant metrics (daily cross-sectional IC, Rank IC, ICIR, as in
Qlib) and expected calibration error are small enough to state here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import accuracy_score, brier_score_loss, log_loss, roc_auc_score

from featurecast.config import DEFAULT_MIN_UNIVERSE_SYMBOLS


def reliability_table(y: np.ndarray, p: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Predicted vs observed frequency per probability bin (equal-width bins on [0, 1])."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    frame = pd.DataFrame({"bin": which, "p": p, "y": y})
    table = frame.groupby("bin").agg(mean_predicted=("p", "mean"), observed=("y", "mean"), count=("y", "size"))
    table = table.reindex(range(bins))
    table["bin_low"], table["bin_high"] = edges[:-1], edges[1:]
    return table.reset_index()


def expected_calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Count-weighted mean |observed - predicted| over probability bins."""
    table = reliability_table(y, p, bins).dropna(subset=["count"])
    weights = table["count"] / table["count"].sum()
    return float((weights * (table["observed"] - table["mean_predicted"]).abs()).sum())


def daily_ic(
    dates: np.ndarray, score: np.ndarray, forward_return: np.ndarray, min_names: int = DEFAULT_MIN_UNIVERSE_SYMBOLS
) -> pd.DataFrame:
    """Per date: Pearson IC and Spearman Rank IC of the score against the realised forward return, on dates
    with at least `min_names` names (a correlation across two or three names is noise, not skill)."""
    frame = pd.DataFrame({"date": dates, "score": score, "ret": forward_return}).dropna()
    rows = []
    for date, group in frame.groupby("date"):
        if len(group) < max(3, min_names) or group["score"].nunique() < 2 or group["ret"].nunique() < 2:
            continue
        rows.append(
            {
                "date": date,
                "ic": float(np.corrcoef(group["score"], group["ret"])[0, 1]),
                "rank_ic": float(stats.spearmanr(group["score"], group["ret"]).statistic),
            }
        )
    return pd.DataFrame(rows, columns=["date", "ic", "rank_ic"])


def summarize(
    y: np.ndarray,
    p: np.ndarray,
    dates: np.ndarray,
    forward_return: np.ndarray,
    min_names: int = DEFAULT_MIN_UNIVERSE_SYMBOLS,
) -> dict[str, float]:
    """Every headline metric for one set of out-of-sample predictions. IC figures are NaN (not reported)
    when no date has `min_names` names."""
    ic = daily_ic(dates, p, forward_return, min_names)
    clipped = np.clip(p, 1e-6, 1 - 1e-6)
    return {
        "n": len(y),
        "auc": float(roc_auc_score(y, p)) if len(np.unique(y)) == 2 else float("nan"),
        "accuracy": float(accuracy_score(y, p >= 0.5)),
        "log_loss": float(log_loss(y, clipped, labels=[0, 1])),
        "brier": float(brier_score_loss(y, p)),
        "ece": expected_calibration_error(y, p),
        "ic": float(ic["ic"].mean()) if len(ic) else float("nan"),
        "rank_ic": float(ic["rank_ic"].mean()) if len(ic) else float("nan"),
        "icir": float(ic["ic"].mean() / ic["ic"].std()) if len(ic) > 1 and ic["ic"].std() > 0 else float("nan"),
    }
