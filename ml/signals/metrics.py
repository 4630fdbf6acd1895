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


def brier_decomposition(y: np.ndarray, p: np.ndarray, bins: int = 10) -> dict[str, float]:
    """Murphy's decomposition of the Brier score over probability bins:
    Brier ≈ reliability - resolution + uncertainty. Resolution is how far the observed frequency moves
    away from the base rate across the model's bins: zero for a model that always predicts the base rate,
    however well calibrated (low ECE) it is."""
    y = np.asarray(y, dtype=float)
    table = reliability_table(y, np.asarray(p, dtype=float), bins).dropna(subset=["count"])
    weights = table["count"] / table["count"].sum()
    base_rate = float(y.mean())
    return {
        "brier_reliability": float((weights * (table["mean_predicted"] - table["observed"]) ** 2).sum()),
        "brier_resolution": float((weights * (table["observed"] - base_rate) ** 2).sum()),
        "brier_uncertainty": base_rate * (1 - base_rate),
    }


def resolution_null(y: np.ndarray, p: np.ndarray, bins: int = 10, draws: int = 200, seed: int = 0) -> float:
    """95th percentile of the resolution a model gets by chance: labels shuffled across rows, so the
    probabilities carry no information. A resolution at or below it is indistinguishable from zero."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y, dtype=float)
    values = [brier_decomposition(rng.permutation(y), p, bins)["brier_resolution"] for _ in range(draws)]
    return float(np.quantile(values, 0.95))


def probability_spread(p: np.ndarray) -> dict[str, float]:
    """How much the probabilities move: standard deviation and the 5th to 95th percentile range."""
    p = np.asarray(p, dtype=float)
    low, high = np.quantile(p, [0.05, 0.95])
    return {"p_std": float(p.std()), "p_q05": float(low), "p_q95": float(high)}


def calibration_with_resolution(y: np.ndarray, p: np.ndarray) -> dict[str, float | bool]:
    """ECE's missing half: the Brier decomposition, the spread of p, and whether the model only predicts
    the base rate (resolution not above what shuffled labels give)."""
    decomposition = brier_decomposition(y, p)
    null = resolution_null(y, p)
    return {
        **decomposition,
        **probability_spread(p),
        "resolution_null_q95": null,
        "predicts_base_rate": bool(decomposition["brier_resolution"] <= null),
    }


PAIRED_METRICS = ("auc", "log_loss", "brier", "rank_ic")


def paired_comparison(
    y: np.ndarray,
    p_model: np.ndarray,
    p_baseline: np.ndarray,
    dates: np.ndarray,
    forward_return: np.ndarray,
    *,
    min_names: int = DEFAULT_MIN_UNIVERSE_SYMBOLS,
    draws: int = 200,
    level: float = 0.90,
    seed: int = 0,
) -> pd.DataFrame:
    """Model minus baseline on exactly the same rows, with a paired bootstrap interval over dates.

    Each draw resamples whole dates with replacement (a date's rows move together, keeping the
    cross-sectional dependence) and recomputes both scorers on the same resampled rows, so the interval
    is for the difference, not two separate intervals. Rank IC differences resample the daily ICs.
    Returns one row per metric: model, baseline, difference, ci_low, ci_high, n_rows, n_dates."""
    y = np.asarray(y)
    p_model, p_baseline = np.asarray(p_model, dtype=float), np.asarray(p_baseline, dtype=float)
    codes, uniques = pd.factorize(pd.Series(dates))
    by_date = [np.flatnonzero(codes == k) for k in range(len(uniques))]
    rng = np.random.default_rng(seed)

    def scores(index: np.ndarray) -> dict[str, tuple[float, float]]:
        labels = y[index]
        if len(np.unique(labels)) < 2:
            return {}
        out = {}
        for name, fn in (
            ("auc", roc_auc_score),
            ("log_loss", lambda t, q: log_loss(t, np.clip(q, 1e-6, 1 - 1e-6), labels=[0, 1])),
            ("brier", brier_score_loss),
        ):
            out[name] = (float(fn(labels, p_model[index])), float(fn(labels, p_baseline[index])))
        return out

    point = scores(np.arange(len(y)))
    draws_by_metric: dict[str, list[float]] = {name: [] for name in ("auc", "log_loss", "brier")}
    for _ in range(draws):
        picked = rng.integers(0, len(by_date), len(by_date))
        sample = scores(np.concatenate([by_date[k] for k in picked]))
        for name, (model, baseline) in sample.items():
            draws_by_metric[name].append(model - baseline)

    model_ic = daily_ic(dates, p_model, forward_return, min_names).set_index("date")["rank_ic"]
    base_ic = daily_ic(dates, p_baseline, forward_return, min_names).set_index("date")["rank_ic"]
    paired = pd.concat([model_ic, base_ic], axis=1, keys=["model", "baseline"]).dropna()
    if len(paired):
        point["rank_ic"] = (float(paired["model"].mean()), float(paired["baseline"].mean()))
        diff = (paired["model"] - paired["baseline"]).to_numpy()
        draws_by_metric["rank_ic"] = [float(diff[rng.integers(0, len(diff), len(diff))].mean()) for _ in range(draws)]

    tail = (1 - level) / 2
    rows = []
    for name in PAIRED_METRICS:
        if name not in point:
            continue
        model, baseline = point[name]
        sample = np.asarray(draws_by_metric.get(name) or [np.nan])
        rows.append(
            {
                "metric": name,
                "model": model,
                "baseline": baseline,
                "difference": model - baseline,
                "ci_low": float(np.nanquantile(sample, tail)),
                "ci_high": float(np.nanquantile(sample, 1 - tail)),
                "n_rows": len(y) if name != "rank_ic" else len(paired),
                "n_dates": len(uniques) if name != "rank_ic" else len(paired),
            }
        )
    return pd.DataFrame(rows)
