"""When a forecast is from: a portfolio whose equity ends before the data has older forecasts, and says why."""

from __future__ import annotations

from datetime import date


def behind_data(portfolio: str, as_of: date, data_last_date: date) -> str | None:
    """Why a portfolio's newest forecast (issued `as_of`) is older than the data, or None when it is not. A
    backtest book (signal_strategy) holds out-of-fold signals, which exist only where the label's horizon has
    matured, so its equity, and its forecasts, end that many sessions before the data."""
    if as_of >= data_last_date:
        return None
    reason = (
        "the backtest's book trades out-of-fold signals, which end where their labels have matured"
        if portfolio.startswith("signal_")
        else "the portfolio's equity ends there (none of its symbols has a newer clean bar)"
    )
    return f"as of {as_of}, {(data_last_date - as_of).days} days before the data ({data_last_date}): {reason}"
