"""Classification and ranking metrics for direction signals: plain functions over arrays and frames.

Scoring rules come from scikit-learn; the quant metrics (daily cross-sectional IC, Rank IC, ICIR, as in
Qlib) and expected calibration error are small enough to state here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
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
    """Per date: Pearson IC and Spearman Rank IC of the score against the realised forward return, and the
    names they are over, on dates with at least `min_names` names (a correlation across two or three names
    is noise, not skill). Qlib's report is the mean of these series and the mean over their standard
    deviation (ICIR, Rank ICIR)."""
    frame = pd.DataFrame({"date": dates, "score": score, "ret": forward_return}).dropna()
    # All dates at once (a loop over dates cost 17 s at 500 symbols x 10 years): a date counts with enough
    # names and some spread in both columns; Spearman's rho is Pearson's on the ranks (ties averaged).
    by_date = frame.groupby("date", sort=True)
    counts = by_date.agg(names=("score", "size"), scores=("score", "nunique"), returns=("ret", "nunique"))
    kept = counts.index[(counts["names"] >= max(3, min_names)) & (counts["scores"] >= 2) & (counts["returns"] >= 2)]
    frame = frame[frame["date"].isin(kept)]
    if frame.empty:
        return pd.DataFrame(columns=["date", "names", "ic", "rank_ic"])
    ranked = frame.groupby("date")[["score", "ret"]].rank(method="average")
    out = pd.DataFrame(
        {
            "names": frame.groupby("date").size(),
            "ic": _grouped_correlation(frame["date"], frame["score"], frame["ret"]),
            "rank_ic": _grouped_correlation(frame["date"], ranked["score"], ranked["ret"]),
        }
    )
    return out.rename_axis("date").reset_index()[["date", "names", "ic", "rank_ic"]]


def _grouped_correlation(by: pd.Series, x: pd.Series, y: pd.Series) -> pd.Series:
    """Pearson's correlation of x and y within each group of `by` (two-pass: centred on the group means)."""
    dx = x - x.groupby(by).transform("mean")
    dy = y - y.groupby(by).transform("mean")
    products = pd.DataFrame({"xy": dx * dy, "xx": dx * dx, "yy": dy * dy}).groupby(by).sum()
    return products["xy"] / np.sqrt(products["xx"] * products["yy"])


def information_ratio_of(series: pd.Series | np.ndarray) -> float:
    """Mean over standard deviation of a daily IC series (Qlib's ICIR); NaN with fewer than 2 days or no
    spread."""
    values = np.asarray(series, dtype=float)
    if len(values) < 2 or not np.std(values, ddof=1) > 0:
        return float("nan")
    return float(values.mean() / values.std(ddof=1))


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
        "icir": information_ratio_of(ic["ic"]),
        "rank_icir": information_ratio_of(ic["rank_ic"]),
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
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(np.asarray(p, dtype=float), edges[1:-1]), 0, bins - 1)
    counts = np.bincount(which, minlength=bins).astype(float)
    used = counts > 0
    base_rate = y.mean()
    shares = counts[used] / counts.sum()
    values = np.empty(draws)
    for k in range(draws):  # one shuffle at a time (all at once would hold draws x rows)
        observed = np.bincount(which, weights=rng.permutation(y), minlength=bins)[used] / counts[used]
        values[k] = (shares * (observed - base_rate) ** 2).sum()
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


IC_METRICS = ("ic", "icir", "rank_ic", "rank_icir")  # Qlib's signal report, over the daily IC series
PAIRED_METRICS = ("auc", "log_loss", "brier", *IC_METRICS)


def _row_log_loss(y: np.ndarray, p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return -(y * np.log(p) + (1 - y) * np.log(1 - p))


def _weighted_auc(y: np.ndarray, score: np.ndarray, counts: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """AUC (Mann-Whitney, ties counted half) of `score` for each draw of date counts `counts` (draws x
    dates; `codes` gives each row's date): the AUC of a resample in which row i appears counts[k, codes[i]]
    times. Each draw's row weights are made when it is scored (all at once would be draws x rows)."""
    order = np.argsort(score, kind="mergesort")
    _, group = np.unique(score[order], return_inverse=True)
    positive = y[order].astype(float)
    ordered_codes = codes[order]
    out = np.empty(len(counts))
    for k, draw in enumerate(counts):
        row = draw[ordered_codes].astype(float)
        pos_w, neg_w = row * positive, row * (1 - positive)
        neg_by_group = np.bincount(group, weights=neg_w)
        below = np.cumsum(neg_by_group) - neg_by_group  # negatives scored strictly lower
        wins = (pos_w * (below[group] + 0.5 * neg_by_group[group])).sum()
        out[k] = wins / (pos_w.sum() * neg_w.sum())
    return out


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
    y = np.asarray(y).astype(int)
    p_model, p_baseline = np.asarray(p_model, dtype=float), np.asarray(p_baseline, dtype=float)
    codes, uniques = pd.factorize(pd.Series(dates))
    rng = np.random.default_rng(seed)
    point: dict[str, tuple[float, float]] = {}
    draws_by_metric: dict[str, list[float]] = {}
    if len(np.unique(y)) == 2:
        point["auc"] = (float(roc_auc_score(y, p_model)), float(roc_auc_score(y, p_baseline)))
        clip = (1e-6, 1 - 1e-6)
        point["log_loss"] = (
            float(log_loss(y, np.clip(p_model, *clip), labels=[0, 1])),
            float(log_loss(y, np.clip(p_baseline, *clip), labels=[0, 1])),
        )
        point["brier"] = (float(brier_score_loss(y, p_model)), float(brier_score_loss(y, p_baseline)))
        # Resampling whole dates is a weight per date: each draw's counts of every date. A draw's mean row
        # loss is its counts times each date's summed losses over its counts times each date's rows.
        counts = rng.multinomial(len(uniques), np.full(len(uniques), 1 / len(uniques)), size=draws)
        rows_per_date = np.bincount(codes, minlength=len(uniques)).astype(float)
        per_row = {
            "log_loss": _row_log_loss(y, p_model) - _row_log_loss(y, p_baseline),
            "brier": (p_model - y) ** 2 - (p_baseline - y) ** 2,
        }
        for name, losses in per_row.items():
            per_date = np.bincount(codes, weights=losses, minlength=len(uniques))
            draws_by_metric[name] = list((counts @ per_date) / (counts @ rows_per_date))
        model_auc = _weighted_auc(y, p_model, counts, codes)
        baseline_auc = _weighted_auc(y, p_baseline, counts, codes)
        draws_by_metric["auc"] = list(model_auc - baseline_auc)

    # Qlib's figures: the daily IC series of both scorers on the same dates, resampled by whole days
    model_ic = daily_ic(dates, p_model, forward_return, min_names).set_index("date")
    base_ic = daily_ic(dates, p_baseline, forward_return, min_names).set_index("date")
    days = model_ic.add_suffix("_model").join(base_ic.add_suffix("_baseline"), how="inner")
    if len(days):
        picks = [rng.integers(0, len(days), len(days)) for _ in range(draws)]
        for series in ("ic", "rank_ic"):
            model_series = days[f"{series}_model"].to_numpy()
            base_series = days[f"{series}_baseline"].to_numpy()
            for name, statistic in ((series, np.mean), (f"{series[:-2]}icir", information_ratio_of)):
                point[name] = (float(statistic(model_series)), float(statistic(base_series)))
                draws_by_metric[name] = [
                    float(statistic(model_series[pick])) - float(statistic(base_series[pick])) for pick in picks
                ]
    paired = days

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
                "n_rows": len(y) if name not in IC_METRICS else len(paired),
                "n_dates": len(uniques) if name not in IC_METRICS else len(paired),
            }
        )
    return pd.DataFrame(rows)
