"""The regime model: a Markov-switching model of the market's daily return (statsmodels), with a
transparent trend x volatility rule as the baseline. The market is the configured benchmark
(FEATURECAST_MARKET_SERIES) or the equal-weight index.

Point in time: labels come from *filtered* probabilities (day t uses returns up to t), computed with the
parameters of one model version. `walk_forward` makes the history the API serves: each day is labelled
by a version whose fit ended before that day, refitting on a schedule, so appending data never changes
an earlier label. The current version's relabelling of all history is in-sample in parameters and is
kept apart, named as such.

The number of states is the candidate (2 or 3 by default) with the lowest BIC. States are named from
what they are, never by their number, so names stay comparable across refits: volatility rank gives
calm / normal / volatile, and the sign of the state's estimated mean return gives bull or bear (as
Hamilton, and Maheu and McCurdy, name them). How sure that sign is, the mean's z against the fit's
standard error, goes with every label as `mean_return_z`: reported beside the name, never used to hide
it (|z| < 1.96 means the direction is not significant at 5 %).
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

SCALE = 100.0  # model daily returns in percent: better conditioned
STATE_CANDIDATES = (2, 3)  # numbers of states compared by BIC at every fit
EM_ITERATIONS = 500  # upper bound; EM stops earlier when the log-likelihood stops improving
SIGNIFICANCE_Z = 1.96  # |z| of a state's mean return significant at 5 % (two-sided): reported, not a naming rule


@dataclass(frozen=True)
class RegimeModel:
    version: str
    k: int
    params: list[float]
    names: list[str]  # regime name per state index
    fit_start: str
    fit_end: str
    metadata: dict[str, Any]

    def to_document(self) -> dict[str, Any]:
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
    def from_document(cls, doc: dict[str, Any]) -> RegimeModel:
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
    # Imported here: statsmodels (with scipy.stats) costs a second to import, and a night with nothing to
    # fit never needs it.
    from statsmodels.tsa.regime_switching.markov_regression import MarkovRegression

    return MarkovRegression(returns * SCALE, k_regimes=k, trend="c", switching_variance=True)


def _state_names(means: np.ndarray, vols: np.ndarray) -> list[str]:
    """Volatility rank decides calm / normal / volatile; the sign of the state's point-in-time mean return
    decides bull or bear. The evidence for that sign (its z) is reported with every label, not used here:
    a volatile state losing 50 % a year at z = -1.6 is a bear market to a trader, named with its doubt."""
    order = np.argsort(vols)
    k = len(vols)
    names = [""] * k
    for rank, state in enumerate(order):
        level = "calm" if rank < k / 2 else "volatile"
        if k >= 3 and rank == (k - 1) / 2:
            level = "normal"
        trend = "bull" if means[state] > 0 else "bear"
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
    model = _markov(data["mkt_ret_1d"].to_numpy(), k)  # first: importing statsmodels resets its warning filter
    with warnings.catch_warnings():  # statsmodels' optimiser chatter; convergence is recorded below
        warnings.simplefilter("ignore")
        # EM to convergence, no quasi-Newton polish: within about 1 log-likelihood point of the full
        # optimiser on 20 years of S&P 500 returns and about 10x faster for 3 states (14 s -> 1.5 s), which
        # makes the walk-forward backfill affordable. Standard errors from the numerical Hessian.
        results = model.fit(disp=False, em_iter=EM_ITERATIONS, maxiter=0, cov_type="approx")
    names_param = list(results.model.param_names)
    params = np.asarray(results.params, dtype=float)
    const = [names_param.index(f"const[{i}]") for i in range(k)]
    means = params[const] / SCALE
    vols = np.sqrt([params[names_param.index(f"sigma2[{i}]")] for i in range(k)]) / SCALE
    transition = np.asarray(results.regime_transition)[:, :, 0]  # [to, from]
    filtered = np.asarray(results.filtered_marginal_probabilities)
    days = np.bincount(filtered.argmax(axis=1), minlength=k)
    errors = np.asarray(results.bse, dtype=float)[const] / SCALE
    # Without a usable Hessian, fall back to the mean's standard error over the state's likeliest days.
    fallback = vols / np.sqrt(np.maximum(days, 1))
    errors = np.where(np.isfinite(errors) & (errors > 0), errors, fallback)
    z_scores = means / errors
    names = _state_names(means, vols)
    fit_start, fit_end = str(data["date"].iloc[0].date()), str(data["date"].iloc[-1].date())
    digest = hashlib.sha256(json.dumps([k, np.round(params, 10).tolist(), fit_start, fit_end]).encode()).hexdigest()
    metadata = {
        "regimes": {
            names[i]: {
                "annualised_mean_return": float(means[i] * 252),
                "annualised_volatility": float(vols[i] * 252**0.5),
                "expected_duration_days": float(np.asarray(results.expected_durations)[i]),
                "days_in_regime": int(days[i]),
                "mean_return_z": float(z_scores[i]),
            }
            for i in range(k)
        },
        "transition_matrix": {names[j]: {names[i]: float(transition[i, j]) for i in range(k)} for j in range(k)},
        "fit": {
            "log_likelihood": float(results.llf),
            "aic": float(results.aic),
            "bic": float(results.bic),
            "observations": len(data),
            "method": "EM",
        },
        "method": "statsmodels MarkovRegression: switching mean and variance of the market's daily return",
        "naming": "bull / bear by the sign of the state's estimated mean return; its z (mean_return_z) is the "
        f"confidence, significant at 5 % when |z| > {SIGNIFICANCE_Z}",
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


def select_model(market: pd.DataFrame, candidates: Sequence[int] = STATE_CANDIDATES) -> RegimeModel:
    """Fit every candidate number of states on `market` and keep the one with the lowest BIC; the
    comparison is kept in the model's metadata."""
    fitted: dict[int, RegimeModel] = {}
    failures: dict[str, str] = {}
    for k in sorted(set(candidates)):
        try:
            fitted[k] = fit(market, k)
        except (ValueError, np.linalg.LinAlgError) as exc:  # a k the data cannot support is skipped
            if k == min(candidates) or len(candidates) == 1:
                raise
            failures[str(k)] = str(exc)[:200]
    best = min(fitted.values(), key=lambda m: m.metadata["fit"]["bic"])
    selection = {
        "criterion": "lowest BIC",
        "bic": {str(k): m.metadata["fit"]["bic"] for k, m in fitted.items()},
        "failed": failures,
    }
    return RegimeModel(
        best.version,
        best.k,
        best.params,
        best.names,
        best.fit_start,
        best.fit_end,
        {**best.metadata, "selection": selection},
    )


def label_frame(model: RegimeModel, market: pd.DataFrame, start: int = 0) -> pd.DataFrame:
    """Filtered labels of `model` for rows `start:` of `market` (already clean: sorted, no null returns).
    Columns: date, regime, mean_return_z (the z of the labelled state's mean: the label's confidence),
    probability, probabilities (dict), model_version, fit_end."""
    probs = filtered_probabilities(model, market).iloc[start:]
    values = probs[model.names]
    regime = values.idxmax(axis=1)
    z_of = {name: float(stats["mean_return_z"]) for name, stats in model.metadata["regimes"].items()}
    return pd.DataFrame(
        {
            "date": probs["date"].to_numpy(),
            "regime": regime.to_numpy(),
            "mean_return_z": regime.map(z_of).to_numpy(dtype=float),
            "probability": values.max(axis=1).to_numpy(),
            "probabilities": [dict(zip(model.names, map(float, row), strict=True)) for row in values.to_numpy()],
            "model_version": model.version,
            "fit_end": model.fit_end,
        }
    )


def clean_market(market: pd.DataFrame) -> pd.DataFrame:
    return market.dropna(subset=["mkt_ret_1d"]).sort_values("date").reset_index(drop=True)


def walk_forward(
    data: pd.DataFrame,
    *,
    start: int,
    model: RegimeModel | None = None,
    candidates: Sequence[int] = STATE_CANDIDATES,
    refit_every: int = 252,
    refit_now: bool = False,
) -> Iterator[tuple[RegimeModel, bool, pd.DataFrame]]:
    """Label rows `start:` of `data` (from `clean_market`) point in time, yielding (model, fitted now,
    labels) per segment. A model labels the `refit_every` sessions after its fit's last day; then a new
    one is fitted on every row before the next unlabelled day. `model` is the version labelling now
    (None: fit one first); `refit_now` fits a new one before labelling anything."""
    dates = data["date"].to_numpy()
    position = start
    while position < len(data):
        fitted = False
        if model is None or refit_now or position >= rows_through(dates, model.fit_end) + refit_every:
            model = select_model(data.iloc[:position], candidates)
            fitted, refit_now = True, False
        stop = min(len(data), max(rows_through(dates, model.fit_end) + refit_every, position + 1))
        yield model, fitted, label_frame(model, data.iloc[:stop], position)
        position = stop


def rows_through(dates: np.ndarray, day: str) -> int:
    return int(np.searchsorted(dates, np.datetime64(day), side="right"))


def walk_forward_labels(
    market: pd.DataFrame,
    candidates: Sequence[int] = STATE_CANDIDATES,
    *,
    refit_every: int = 252,
    min_history: int = 504,
) -> pd.DataFrame:
    """Point-in-time labels of every day after the first `min_history` (none before), for uses that act
    on regimes (the backtest's regime gate). Columns: date, regime, mean_return_z, probability, model_version,
    fit_end."""
    data = clean_market(market)
    segments = [
        labels.drop(columns="probabilities")
        for _, _, labels in walk_forward(data, start=min_history, candidates=candidates, refit_every=refit_every)
    ]
    if not segments:
        return pd.DataFrame(columns=["date", "regime", "mean_return_z", "probability", "model_version", "fit_end"])
    return pd.concat(segments, ignore_index=True)
