"""The vectorised daily backtest: target weights from signal probabilities, then returns net of frictions.

Timing, stated once and tested:
- a signal dated t uses information up to t's close;
- its trade fills at the close of session t + `execution_lag` (1 by default: the next bar), at that close
  plus slippage, and pays costs that day;
- the position then earns the close-to-close returns from the session after the fill.
So a fill at session d's close sets the weights held over session d + 1 (return close d -> close d+1),
from the signal dated d - execution_lag. A signal at t can never earn t+1's return.

The book is an honest book:
- Between rebalances weights drift with prices: a position that rises becomes a larger share of equity.
  Each rebalance trades back to target, and that trade is turnover and pays costs. With
  `StrategyConfig.drift=False`, weights are reset to target every session for free instead; that is the
  idealised book many vectorised backtests report. It is explicit here, and off by default.
- A symbol whose data ends (delisted, or a feed that stopped) is sold at its last close. The sale pays
  costs, the proceeds stay in cash (earning 0) until the next rebalance, and no later order can buy it.
- Cash is whatever the weights leave: 1 - sum of long weights, plus short proceeds.

Frames are wide: one row per trading session (ascending), one column per symbol. Returns are simple
returns; a missing return inside a symbol's history (a gap, a quarantined bar) earns 0.
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
    risk_gate_forecaster: str | None = None  # whose forecasts the risk gate reads (None: the served champion)
    drift: bool = True  # weights drift with prices between rebalances (False: reset to target daily, for free)

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
    """The orders: the targets of every `every`-th signal date; the rows between are NaN (no order, the
    book holds and drifts)."""
    keep = np.zeros(len(weights), dtype=bool)
    keep[::every] = True
    return weights.where(pd.Series(keep, index=weights.index), np.nan)


@dataclass
class BacktestResult:
    """Daily book-level series and the trades behind them."""

    daily: pd.DataFrame  # date: gross_return, cost, net_return, turnover, exposure, long, short, positions
    executed: pd.DataFrame  # date x symbol: weights after that day's close (after drift, fills and sales)
    trades: pd.DataFrame = field(default_factory=pd.DataFrame)  # date, symbol, weight_before, weight_after, traded


def last_bars(returns: pd.DataFrame) -> np.ndarray:
    """Per symbol, the position of its last session with a return (-1 when it has none)."""
    valid = returns.notna().to_numpy()
    last = len(returns) - 1 - np.argmax(valid[::-1], axis=0)
    return np.where(valid.any(axis=0), last, -1)


def simulate(targets: pd.DataFrame, returns: pd.DataFrame, config: StrategyConfig) -> BacktestResult:
    """Fill the orders in `targets` `execution_lag` sessions later, hold (drifting) until the next order,
    and earn the sessions' returns net of costs.

    `targets` are indexed by signal date; a row is an order (the weights to hold after the fill), an
    all-NaN row is no order. They are aligned to the sessions of `returns`. Turnover is the sum of
    absolute weight changes at each session's close (fills, and sales of symbols whose data ended);
    costs are turnover times (cost_bps + slippage_bps) / 10,000, charged that day.
    """
    sessions, symbols = returns.index, returns.columns
    aligned = targets.reindex(index=sessions, columns=symbols)
    is_order = aligned.notna().any(axis=1).to_numpy()
    orders = aligned.fillna(0.0).to_numpy()
    lag = config.execution_lag
    fills = np.zeros_like(orders)
    fill_day = np.zeros(len(sessions), dtype=bool)
    fills[lag:], fill_day[lag:] = orders[:-lag], is_order[:-lag]
    r = returns.fillna(0.0).to_numpy()
    last = last_bars(returns)
    ended_after = np.where((last >= 0) & (last < len(sessions) - 1), last, len(sessions))  # sold at this close
    bps = (config.cost_bps + config.slippage_bps) / 10_000.0

    n, m = r.shape
    held, before, after = np.zeros((n, m)), np.zeros((n, m)), np.zeros((n, m))
    gross = np.zeros(n)
    weights = np.zeros(m)
    for i in range(n):
        held[i] = weights  # held over session i: its return is earned on these
        gross[i] = weights @ r[i]
        if config.drift and gross[i] > -1.0:
            weights = weights * (1.0 + r[i]) / (1.0 + gross[i])
        before[i] = weights  # at the close, before trading
        if fill_day[i]:
            weights = fills[i]
        weights = np.where(ended_after <= i, 0.0, weights)  # an ended symbol is sold at its last close
        after[i] = weights
    turnover = np.abs(after - before).sum(axis=1)
    cost = turnover * bps
    daily = pd.DataFrame(
        {
            "gross_return": gross,
            "cost": cost,
            "net_return": gross - cost,
            "turnover": turnover,
            "exposure": np.abs(held).sum(axis=1),
            "long": held.clip(min=0).sum(axis=1),
            "short": -held.clip(max=0).sum(axis=1),
            "positions": (held != 0).sum(axis=1),
        },
        index=sessions,
    )
    changes = after - before
    rows, cols = np.nonzero(np.abs(changes) > 1e-12)
    trades = pd.DataFrame(
        {
            "date": sessions[rows],
            "symbol": symbols[cols],
            "weight_before": before[rows, cols],
            "weight_after": after[rows, cols],
            "traded": changes[rows, cols],
        }
    )
    trades["cost"] = trades["traded"].abs() * bps
    return BacktestResult(daily, pd.DataFrame(after, index=sessions, columns=symbols), trades)


def buy_and_hold(returns: pd.DataFrame) -> pd.Series:
    """Daily simple returns of buying the universe in equal parts and never trading (see buy_and_hold_book)."""
    return buy_and_hold_book(returns)["net_return"]


def buy_and_hold_book(returns: pd.DataFrame) -> pd.DataFrame:
    """Buy-and-hold as a book: each symbol gets 1/N of the starting capital, invested at its first bar in
    the data (cash until then), never rebalanced, and sold at its last close when its data ends (cash
    after that, earning 0). Daily net_return, the share of equity invested (exposure) and positions."""
    growth = (1.0 + returns.fillna(0.0)).cumprod()  # the value of each symbol's 1/N part
    equity = growth.mean(axis=1)
    net = equity / equity.shift(1).fillna(1.0) - 1.0
    position = np.arange(len(returns))[:, None]
    started = returns.notna().cummax().to_numpy()
    live = started & (position <= last_bars(returns)[None, :])  # held over the session
    value = growth.shift(1).fillna(1.0).to_numpy()  # each part's value at the start of the session
    return pd.DataFrame(
        {
            "gross_return": net,
            "cost": 0.0,
            "net_return": net,
            "turnover": 0.0,
            "exposure": (value * live).sum(axis=1) / value.sum(axis=1),
            "positions": live.sum(axis=1),
        },
        index=returns.index,
    )
