"""The regime model: a Markov-switching model of the equal-weight index return (statsmodels), with a
transparent trend x volatility rule as the baseline.

Point in time: labels come from *filtered* probabilities (day t uses returns up to t), computed with the
parameters of one model version. Applying a version to a longer history never changes its past labels;
a refit is a new version. States are named from what they are (volatility rank, and the sign of their
mean when it is statistically clear), never by their number, so names stay stable across refits:
bull_calm, neutral_volatile, bear_volatile, ...

Those labels are still in-sample in parameters for the days the version was fitted on.
`walk_forward_labels` gives labels whose model was fit before each day, for anything that acts on a
regime (the backtest's regime gate).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

import numpy as np
import pandas as pd
from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

SCALE = 100.0  # model daily returns in percent: better conditioned


@dataclass(frozen=True)
class RegimeModel:
    version: str
    k: int
    params: list[float]
    names: list[str]  # regime name per state index
    fit_start: str
    fit_end: str
    metadata: dict[str, object]

    def to_document(self) -> dict[str, object]:
        return {
            "model_version": self.version,
            "k": self.k,
            "params": self.params,
            "names": self.names,
            "fit_start": self.fit_start,
            "fit_end": self.fit_end,
            "metadata": self.metadata,
        }

    @classmethod
    def from_document(cls, doc: dict[str, object]) -> RegimeModel:
        return cls(
            doc["model_version"],
            int(doc["k"]),
            list(doc["params"]),
            list(doc["names"]),
            doc["fit_start"],
            doc["fit_end"],
            dict(doc["metadata"]),
        )


def _markov(returns: np.ndarray, k: int) -> MarkovRegression:
    return MarkovRegression(returns * SCALE, k_regimes=k, trend="c", switching_variance=True)


def _state_names(means: np.ndarray, vols: np.ndarray, days: np.ndarray) -> list[str]:
    """Volatility rank decides calm / normal / volatile. A state is bull or bear only when its mean daily
    return is distinguishable from zero (|t| > 2 over the days it was most likely); otherwise neutral:
    a noisy mean estimate must not name a regime."""
    order = np.argsort(vols)
    k = len(vols)
    names = [""] * k
    for rank, state in enumerate(order):
        level = "calm" if rank < k / 2 else "volatile"
        if k >= 3 and rank == (k - 1) / 2:
            level = "normal"
        t_stat = means[state] / (vols[state] / np.sqrt(max(int(days[state]), 1)))
        trend = "bull" if t_stat > 2 else "bear" if t_stat < -2 else "neutral"
        names[state] = f"{trend}_{level}"
    for name in set(names):  # two states with the same character: number them by volatility
        clashes = [s for s in order if names[s] == name]
        if len(clashes) > 1:
            for i, state in enumerate(clashes, start=1):
                names[state] = f"{name}_{i}"
    return names


def fit(market: pd.DataFrame, k: int = 2) -> RegimeModel:
    """Fit on every row of `market` (columns date, mkt_ret_1d)."""
    data = market.dropna(subset=["mkt_ret_1d"]).sort_values("date")
    if len(data) < 250:
        raise ValueError(f"{len(data)} days of market returns; a regime model needs at least 250")
    results = _markov(data["mkt_ret_1d"].to_numpy(), k).fit(disp=False)
    names_param = list(results.model.param_names)
    params = np.asarray(results.params, dtype=float)
    means = np.array([params[names_param.index(f"const[{i}]")] for i in range(k)]) / SCALE
    vols = np.sqrt([params[names_param.index(f"sigma2[{i}]")] for i in range(k)]) / SCALE
    transition = np.asarray(results.regime_transition)[:, :, 0]  # [to, from]
    filtered = np.asarray(results.filtered_marginal_probabilities)
    days = np.bincount(filtered.argmax(axis=1), minlength=k)
    names = _state_names(means, vols, days)
    fit_start, fit_end = str(data["date"].iloc[0].date()), str(data["date"].iloc[-1].date())
    digest = hashlib.sha256(json.dumps([k, np.round(params, 10).tolist(), fit_start, fit_end]).encode()).hexdigest()
    metadata = {
        "regimes": {
            names[i]: {
                "annualised_mean_return": float(means[i] * 252),
                "annualised_volatility": float(vols[i] * 252**0.5),
                "expected_duration_days": float(np.asarray(results.expected_durations)[i]),
                "days_in_regime": int(days[i]),
            }
            for i in range(k)
        },
        "transition_matrix": {names[j]: {names[i]: float(transition[i, j]) for i in range(k)} for j in range(k)},
        "fit": {
            "log_likelihood": float(results.llf),
            "aic": float(results.aic),
            "bic": float(results.bic),
            "observations": len(data),
            "converged": bool(results.mle_retvals.get("converged", True)),
        },
        "method": "statsmodels MarkovRegression: switching mean and variance of the equal-weight index daily return",
    }
    return RegimeModel(f"markov-k{k}-{digest[:12]}", k, params.tolist(), names, fit_start, fit_end, metadata)


def filtered_probabilities(model: RegimeModel, market: pd.DataFrame) -> pd.DataFrame:
    """Filtered regime probabilities (columns: date + one per regime name) with the model's fixed params."""
    data = market.dropna(subset=["mkt_ret_1d"]).sort_values("date")
    results = _markov(data["mkt_ret_1d"].to_numpy(), model.k).filter(np.asarray(model.params))
    probs = pd.DataFrame(np.asarray(results.filtered_marginal_probabilities), columns=model.names)
    probs.insert(0, "date", data["date"].to_numpy())
    return probs


def rule_labels(market: pd.DataFrame) -> pd.Series:
    """Baseline: trend (63-session index return sign) x volatility (21-session vol above its expanding
    median to date). Point in time by construction."""
    data = market.sort_values("date")
    trend = np.where(data["mkt_ret_63d"].fillna(0) >= 0, "bull", "bear")
    vol = data["mkt_vol_21d"]
    high = vol > vol.expanding().median()
    labels = pd.Series(
        [f"{t}_{'volatile' if h else 'calm'}" for t, h in zip(trend, high, strict=True)], index=data["date"].to_numpy()
    )
    labels[vol.isna().to_numpy()] = None
    return labels


def walk_forward_labels(
    market: pd.DataFrame, k: int = 2, *, refit_every: int = 252, min_history: int = 500
) -> pd.DataFrame:
    """Regime labels that are point in time in data *and* parameters, for uses that act on them (the
    backtest's regime gate).

    The first model is fit on the first `min_history` days and labels the next `refit_every` days with
    filtered probabilities; then it is refit on everything so far, and so on. Every label is made by a
    model whose fit window ends before the labelled day, so appending later data never changes an
    earlier label. Days before `min_history` have none. Columns: date, regime, probability,
    model_version, fit_end.
    """
    data = market.dropna(subset=["mkt_ret_1d"]).sort_values("date").reset_index(drop=True)
    segments = []
    for start in range(min_history, len(data), refit_every):
        end = min(start + refit_every, len(data))
        model = fit(data.iloc[:start], k)
        probs = filtered_probabilities(model, data.iloc[:end]).iloc[start:end]
        values = probs[model.names]
        segments.append(
            pd.DataFrame(
                {
                    "date": probs["date"].to_numpy(),
                    "regime": values.idxmax(axis=1).to_numpy(),
                    "probability": values.max(axis=1).to_numpy(),
                    "model_version": model.version,
                    "fit_end": model.fit_end,
                }
            )
        )
    if not segments:
        return pd.DataFrame(columns=["date", "regime", "probability", "model_version", "fit_end"])
    return pd.concat(segments, ignore_index=True)
