"""The vectorised daily backtest: target weights from signal probabilities, then returns net of frictions.

Timing, stated once and tested:
- a signal dated t uses information up to t's close;
- its trade fills at the close of session t + `execution_lag` (1 by default: the next bar), at that close
  plus slippage, and pays costs that day;
- the position then earns the close-to-close returns from the session after the fill.
So the weight held over session d (return close d-1 -> close d) is the target of the signal dated
d - 1 - execution_lag. A signal at t can never earn t+1's return.

Frames are wide: one row per trading session (ascending), one column per symbol. Returns are simple
returns; a missing return (a gap, a quarantined bar) earns 0.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class StrategyConfig:
    """One backtest's rules. Every field is stored with the run."""

    rule: str = "top_k"  # "top_k": the k most probable symbols; "threshold": every symbol with p >= threshold
    k: int = 5
    threshold: float = 0.55
    long_short: bool = False  # also short the k least probable (top_k) or those with p <= 1 - threshold
    max_weight: float = 0.20  # position limit per symbol (fraction of equity); the rest stays in cash
    gross_exposure: float = 1.0  # total long (and total short, if long_short) exposure before the limit
    rebalance_every: int = 5  # sessions between rebalances (the signal horizon by default)
    execution_lag: int = 1  # sessions from the signal to the fill
    cost_bps: float = 5.0  # commissions and fees, per unit of traded notional
    slippage_bps: float = 5.0  # price impact and spread, per unit of traded notional
    regime_gate: tuple[str, ...] = ()  # market regimes in which the book goes to cash
    risk_gate_q05: float | None = None  # go to cash when the portfolio forecast's 5th percentile is below this

    def __post_init__(self) -> None:
        if self.rule not in {"top_k", "threshold"}:
            raise ValueError(f"rule must be 'top_k' or 'threshold', got {self.rule!r}")
        if self.k < 1 or self.rebalance_every < 1 or self.execution_lag < 1:
            raise ValueError("k, rebalance_every and execution_lag must be at least 1 (no same-bar fills)")
        if not 0 < self.max_weight <= 1 or self.gross_exposure <= 0:
            raise ValueError("max_weight must be in (0, 1] and gross_exposure positive")
        if self.cost_bps < 0 or self.slippage_bps < 0:
            raise ValueError("costs and slippage cannot be negative")

    def as_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["regime_gate"] = list(self.regime_gate)
        return out


def target_weights(probability: pd.DataFrame, config: StrategyConfig) -> pd.DataFrame:
    """Weights each signal date asks for (before gating and rebalancing), from the probabilities."""
    p = probability.astype(float)
    if config.rule == "top_k":
        ranks_high = p.rank(axis=1, ascending=False, method="first")
        longs = ranks_high <= config.k
        ranks_low = p.rank(axis=1, ascending=True, method="first")
        shorts = (ranks_low <= config.k) & ~longs if config.long_short else pd.DataFrame(False, p.index, p.columns)
    else:
        longs = p >= config.threshold
        shorts = (p <= 1 - config.threshold) if config.long_short else pd.DataFrame(False, p.index, p.columns)
    long_count = longs.sum(axis=1).replace(0, np.nan)
    short_count = shorts.sum(axis=1).replace(0, np.nan)
    weights = longs.astype(float).div(long_count, axis=0).fillna(0.0) * config.gross_exposure
    weights -= shorts.astype(float).div(short_count, axis=0).fillna(0.0) * config.gross_exposure
    return weights.clip(lower=-config.max_weight, upper=config.max_weight)


def apply_gates(weights: pd.DataFrame, gate_off: pd.Series) -> pd.DataFrame:
    """Zero the signal dates on which a gate (regime, risk) is closed; `gate_off` is True where closed."""
    closed = gate_off.reindex(weights.index).fillna(False).astype(bool)
    return weights.mul(~closed, axis=0)


def rebalance(weights: pd.DataFrame, every: int) -> pd.DataFrame:
    """Keep the targets of every `every`-th signal date and hold them in between."""
    keep = np.zeros(len(weights), dtype=bool)
    keep[::every] = True
    return weights.where(pd.Series(keep, index=weights.index), np.nan).ffill().fillna(0.0)


@dataclass
class BacktestResult:
    """Daily book-level series and the trades behind them."""

    daily: pd.DataFrame  # date: gross_return, cost, net_return, turnover, exposure, long, short, positions
    executed: pd.DataFrame  # date x symbol: weights after the fill that day
    trades: pd.DataFrame = field(default_factory=pd.DataFrame)  # date, symbol, weight_before, weight_after, traded


def simulate(targets: pd.DataFrame, returns: pd.DataFrame, config: StrategyConfig) -> BacktestResult:
    """Fill `targets` `execution_lag` sessions later, then earn the following sessions' returns net of costs.

    `targets` are indexed by signal date, `returns` by session; both are aligned to the sessions of
    `returns`. Turnover is the sum of absolute weight changes at each fill; costs are turnover times
    (cost_bps + slippage_bps) / 10,000, charged on the fill day.
    """
    sessions = returns.index
    symbols = returns.columns
    targets = targets.reindex(index=sessions, columns=symbols).fillna(0.0)
    executed = targets.shift(config.execution_lag).fillna(0.0)
    held = executed.shift(1).fillna(0.0)
    r = returns.fillna(0.0)
    gross = (held * r).sum(axis=1)
    changes = executed.diff()
    changes.iloc[0] = executed.iloc[0]
    turnover = changes.abs().sum(axis=1)
    cost = turnover * (config.cost_bps + config.slippage_bps) / 10_000.0
    daily = pd.DataFrame(
        {
            "gross_return": gross,
            "cost": cost,
            "net_return": gross - cost,
            "turnover": turnover,
            "exposure": held.abs().sum(axis=1),
            "long": held.clip(lower=0).sum(axis=1),
            "short": -held.clip(upper=0).sum(axis=1),
            "positions": (held != 0).sum(axis=1),
        },
        index=sessions,
    )
    stacked = changes.stack()
    traded = stacked[stacked.abs() > 1e-12]
    trades = pd.DataFrame(
        {
            "date": traded.index.get_level_values(0),
            "symbol": traded.index.get_level_values(1),
            "weight_after": executed.stack().reindex(traded.index).to_numpy(),
            "traded": traded.to_numpy(),
        }
    )
    trades["weight_before"] = trades["weight_after"] - trades["traded"]
    trades["cost"] = trades["traded"].abs() * (config.cost_bps + config.slippage_bps) / 10_000.0
    return BacktestResult(daily, executed, trades)


def buy_and_hold(returns: pd.DataFrame) -> pd.Series:
    """Daily simple returns of buying the universe in equal parts on the first session and never trading."""
    growth = (1.0 + returns.fillna(0.0)).cumprod()
    equity = growth.mean(axis=1)
    previous = equity.shift(1).fillna(1.0)
    return equity / previous - 1.0
