"""The embedded default market: deterministic synthetic daily OHLCV with real prices' stylized facts.

What it models, and why each piece is there:
- a hidden two-state market regime (bull: drift up, calm; bear: drift down, about twice the volatility)
  following a Markov chain with persistent states, returned as ground truth for regime models;
- a common market factor with GARCH(1,1) volatility clustering and Student-t (df=5) innovations
  (fat tails), and per-symbol betas on it;
- idiosyncratic GARCH noise per symbol, so cross-sectional dispersion and correlation vary over time;
- OHLC bars built around the close with overnight gaps and intraday ranges that scale with volatility;
- volume tied to the absolute return (high-volume days are big-move days) plus a persistent component;
- the NYSE calendar (weekends and exchange holidays are not sessions).

`inject_defects` adds the feed defects the guardrails must catch (gaps, price spikes, volume spikes,
stale prices, OHLC inconsistencies, duplicate rows) and returns a log of exactly what it changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

from featurecast.calendar import trading_days

OHLCV_COLUMNS = ["symbol", "date", "open", "high", "low", "close", "adjusted_close", "volume"]

REGIME_NAMES = {0: "bull", 1: "bear"}


@dataclass(frozen=True)
class SyntheticSpec:
    """Shape of a synthetic market. Same spec, same data, on any machine."""

    n_symbols: int = 40
    years: float = 6.0
    end: date = date(2026, 10, 30)
    seed: int = 7
    # Regime chain: daily probability of leaving each state (expected durations ~ 1/p sessions).
    p_leave_bull: float = 1 / 250
    p_leave_bear: float = 1 / 90
    bull_drift: float = 0.0006
    bear_drift: float = -0.0009
    bear_vol_multiplier: float = 2.0
    market_vol: float = 0.009
    t_df: float = 5.0


@dataclass(frozen=True)
class SyntheticMarket:
    """Generated prices plus the ground truth a test or a model evaluation may need."""

    prices: pd.DataFrame  # OHLCV_COLUMNS
    regimes: pd.DataFrame  # date, regime (0 bull / 1 bear), regime_name, market_return
    betas: pd.Series  # symbol -> beta on the market factor


def _student_t(rng: np.random.Generator, df: float, size: tuple[int, ...] | int) -> np.ndarray:
    """Student-t draws scaled to unit variance."""
    return rng.standard_t(df, size=size) / np.sqrt(df / (df - 2.0))


def _garch_path(
    shocks: np.ndarray, base_vol: np.ndarray | float, omega_share: float = 0.05, alpha: float = 0.08, beta: float = 0.87
) -> np.ndarray:
    """Volatility-clustered returns: GARCH(1,1) applied along axis 0 of unit-variance `shocks`.

    `base_vol` is the unconditional volatility (scalar or one per column/row of the path).
    """
    base = np.broadcast_to(np.asarray(base_vol, dtype=float), shocks.shape)
    variance = base[0] ** 2
    out = np.empty_like(shocks)
    persistence = alpha + beta
    for t in range(shocks.shape[0]):
        omega = (1.0 - persistence) * base[t] ** 2
        sigma = np.sqrt(variance)
        out[t] = sigma * shocks[t]
        variance = omega + alpha * out[t] ** 2 + beta * variance
        variance = np.maximum(variance, omega_share * base[t] ** 2)
    return out


def generate(spec: SyntheticSpec = SyntheticSpec()) -> SyntheticMarket:
    """Generate a synthetic market for `spec`. Deterministic in `spec`."""
    if spec.n_symbols < 1:
        raise ValueError("n_symbols must be at least 1")
    n_days = round(spec.years * 252)
    if n_days < 2:
        raise ValueError("years must cover at least two sessions")
    rng = np.random.default_rng(spec.seed)
    # Enough calendar days back to hold n_days sessions.
    start = (pd.Timestamp(spec.end) - pd.Timedelta(days=int(n_days * 1.5) + 30)).date()
    sessions = trading_days(start, spec.end)[-n_days:]
    if len(sessions) < n_days:
        raise ValueError("calendar does not cover the requested history")

    # Hidden regime chain.
    regime = np.empty(n_days, dtype=np.int8)
    regime[0] = 0
    leave = rng.random(n_days)
    for t in range(1, n_days):
        p = spec.p_leave_bull if regime[t - 1] == 0 else spec.p_leave_bear
        regime[t] = 1 - regime[t - 1] if leave[t] < p else regime[t - 1]
    drift = np.where(regime == 0, spec.bull_drift, spec.bear_drift)
    vol_scale = np.where(regime == 0, 1.0, spec.bear_vol_multiplier)

    market = drift + _garch_path(_student_t(rng, spec.t_df, n_days), spec.market_vol * vol_scale)

    n = spec.n_symbols
    betas = rng.uniform(0.6, 1.4, n)
    idio_vol = rng.uniform(0.008, 0.02, n)
    idio = _garch_path(_student_t(rng, spec.t_df, (n_days, n)), idio_vol[None, :] * np.sqrt(vol_scale)[:, None])
    alpha_drift = rng.normal(0.0, 0.0001, n)
    log_ret = market[:, None] * betas[None, :] + idio + alpha_drift[None, :]

    start_price = np.exp(rng.normal(np.log(60.0), 0.8, n))
    close = start_price[None, :] * np.exp(np.cumsum(log_ret, axis=0))
    prev_close = np.vstack([start_price[None, :], close[:-1]])
    day_vol = np.abs(log_ret).mean(axis=0, keepdims=True) * np.sqrt(np.pi / 2)
    gap = rng.normal(0.0, 0.25, (n_days, n)) * day_vol
    open_ = prev_close * np.exp(gap)
    range_up = np.abs(rng.normal(0.0, 0.6, (n_days, n))) * day_vol
    range_down = np.abs(rng.normal(0.0, 0.6, (n_days, n))) * day_vol
    high = np.maximum(open_, close) * np.exp(range_up)
    low = np.minimum(open_, close) * np.exp(-range_down)

    base_volume = np.exp(rng.normal(13.5, 0.9, n))
    persistent = np.zeros((n_days, n))
    noise = rng.normal(0.0, 0.25, (n_days, n))
    for t in range(1, n_days):
        persistent[t] = 0.9 * persistent[t - 1] + noise[t]
    volume = base_volume[None, :] * np.exp(0.2 * np.abs(log_ret) / day_vol + persistent * 0.5)

    symbols = np.array([f"SYN{i:03d}" for i in range(n)])
    frame = pd.DataFrame(
        {
            "symbol": np.tile(symbols, n_days),
            "date": np.repeat(sessions.date, n),
            "open": open_.ravel().round(4),
            "high": high.ravel().round(4),
            "low": low.ravel().round(4),
            "close": close.ravel().round(4),
            "volume": volume.ravel().round().astype("int64"),
        }
    )
    # Rounding can push open/close past a bar edge by a hair; keep the bar consistent.
    frame["high"] = frame[["open", "high", "close"]].max(axis=1)
    frame["low"] = frame[["open", "low", "close"]].min(axis=1)
    frame["adjusted_close"] = frame["close"]
    frame = frame[OHLCV_COLUMNS].sort_values(["symbol", "date"], ignore_index=True)
    regimes = pd.DataFrame(
        {
            "date": sessions.date,
            "regime": regime.astype(int),
            "regime_name": [REGIME_NAMES[int(r)] for r in regime],
            "market_return": market,
        }
    )
    return SyntheticMarket(prices=frame, regimes=regimes, betas=pd.Series(betas, index=symbols, name="beta"))


@dataclass(frozen=True)
class DefectSpec:
    """How many of each defect to inject (per market, spread over random symbols)."""

    gaps: int = 4  # a missing session
    spikes: int = 4  # a one-day bad print: the bar multiplied by 2-3 or by 0.3-0.5
    volume_spikes: int = 2  # a one-day volume print 100x too large
    stale_runs: int = 2  # a run of 7 sessions repeating the previous bar
    ohlc_inconsistent: int = 3  # high below the close
    duplicates: int = 3  # an exact duplicate of a row
    seed: int = 11
    stale_run_length: int = 7


def inject_defects(prices: pd.DataFrame, spec: DefectSpec = DefectSpec()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Return (defective prices, defect log). The log has one row per (symbol, date, defect).

    Defects never touch a symbol's first 80 sessions, so trailing-window rules have history to judge by,
    and never overlap each other.
    """
    rng = np.random.default_rng(spec.seed)
    out = prices.sort_values(["symbol", "date"], ignore_index=True).copy()
    out["_pos"] = out.groupby("symbol").cumcount()
    out["_len"] = out.groupby("symbol")["date"].transform("size")
    eligible = out.index[(out["_pos"] >= 80) & (out["_pos"] < out["_len"] - spec.stale_run_length - 2)].to_numpy()
    taken: set[int] = set()
    log: list[dict[str, object]] = []

    def pick(span: int) -> int:
        for _ in range(10_000):
            i = int(rng.choice(eligible))
            block = set(range(i - 3, i + span + 3))
            if not block & taken:
                taken.update(block)
                return i
        raise RuntimeError("could not place a non-overlapping defect")

    drop: list[int] = []
    for _ in range(spec.gaps):
        i = pick(1)
        drop.append(i)
        log.append({"symbol": out.at[i, "symbol"], "date": out.at[i, "date"], "defect": "gap"})
    for _ in range(spec.spikes):
        i = pick(1)
        factor = float(rng.choice([rng.uniform(2.0, 3.0), rng.uniform(0.3, 0.5)]))
        for col in ("open", "high", "low", "close", "adjusted_close"):
            out.at[i, col] = round(out.at[i, col] * factor, 4)
        log.append({"symbol": out.at[i, "symbol"], "date": out.at[i, "date"], "defect": "spike"})
    for _ in range(spec.volume_spikes):
        i = pick(1)
        out.at[i, "volume"] = int(out.at[i, "volume"]) * 100
        log.append({"symbol": out.at[i, "symbol"], "date": out.at[i, "date"], "defect": "volume_spike"})
    for _ in range(spec.stale_runs):
        i = pick(spec.stale_run_length)
        previous = out.loc[i - 1]
        for j in range(i, i + spec.stale_run_length):
            for col in ("open", "high", "low", "close", "adjusted_close", "volume"):
                out.at[j, col] = previous[col]
            log.append({"symbol": out.at[j, "symbol"], "date": out.at[j, "date"], "defect": "stale"})
    for _ in range(spec.ohlc_inconsistent):
        i = pick(1)
        out.at[i, "high"] = round(min(out.at[i, "open"], out.at[i, "close"]) * 0.99, 4)
        log.append({"symbol": out.at[i, "symbol"], "date": out.at[i, "date"], "defect": "ohlc_inconsistent"})
    duplicated = []
    for _ in range(spec.duplicates):
        i = pick(1)
        duplicated.append(out.loc[[i]])
        log.append({"symbol": out.at[i, "symbol"], "date": out.at[i, "date"], "defect": "duplicate"})
    out = out.drop(index=drop)
    out = pd.concat([out, *duplicated], ignore_index=True).drop(columns=["_pos", "_len"])
    out = out.sort_values(["symbol", "date"], kind="stable", ignore_index=True)
    return out, pd.DataFrame(log, columns=["symbol", "date", "defect"])


def random_walk(n_symbols: int, years: float, *, seed: int = 0, end: date = date(2026, 10, 30)) -> pd.DataFrame:
    """Pure random walks: iid normal log returns, no drift, no factor, no regimes, volume independent of
    price. Nothing about the future is predictable from the past: the leakage canary's market."""
    rng = np.random.default_rng(seed)
    n_days = round(years * 252)
    start = (pd.Timestamp(end) - pd.Timedelta(days=int(n_days * 1.5) + 30)).date()
    sessions = trading_days(start, end)[-n_days:]
    log_ret = rng.normal(0.0, 0.015, (n_days, n_symbols))
    close = 50.0 * np.exp(np.cumsum(log_ret, axis=0))
    open_ = np.vstack([np.full((1, n_symbols), 50.0), close[:-1]])
    high = np.maximum(open_, close) * np.exp(np.abs(rng.normal(0.0, 0.005, (n_days, n_symbols))))
    low = np.minimum(open_, close) * np.exp(-np.abs(rng.normal(0.0, 0.005, (n_days, n_symbols))))
    volume = np.exp(rng.normal(13.0, 0.3, (n_days, n_symbols))).round().astype("int64")
    frame = pd.DataFrame(
        {
            "symbol": np.tile([f"RW{i:03d}" for i in range(n_symbols)], n_days),
            "date": np.repeat(sessions.date, n_symbols),
            "open": open_.ravel(),
            "high": high.ravel(),
            "low": low.ravel(),
            "close": close.ravel(),
            "volume": volume.ravel(),
        }
    )
    frame["adjusted_close"] = frame["close"]
    return frame[OHLCV_COLUMNS].sort_values(["symbol", "date"], ignore_index=True)
