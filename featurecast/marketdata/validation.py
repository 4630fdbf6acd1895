"""Schema-level validation of a batch before it lands: what can't be parsed never reaches the warehouse.

Division of labour: this module rejects input that is not well-formed daily OHLCV (missing columns,
non-numeric or missing prices, unparseable or future dates, conflicting duplicates, bad symbols).
Whether well-formed prices are *plausible* (OHLC consistency, non-positive prices, spikes, stale prices,
gaps) is judged by the dbt guardrails, which name the rule that fired; raw keeps what the feed sent.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pandas as pd

from featurecast.marketdata.errors import DuplicateRowsError, EmptyDataError, InvalidValueError, SchemaError

PRICE_COLUMNS = ["open", "high", "low", "close"]
OPTIONAL_NUMERIC = ["adjusted_close", "dividend_amount", "split_coefficient"]
REQUIRED_COLUMNS = ["symbol", "date", *PRICE_COLUMNS, "volume"]
CANONICAL_COLUMNS = [*REQUIRED_COLUMNS, *OPTIONAL_NUMERIC]
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9][A-Z0-9.\-^=]{0,19}$")

_MAX_EXAMPLES = 5


def _examples(frame: pd.DataFrame, mask: pd.Series, column: str) -> str:
    rows = frame.loc[mask].head(_MAX_EXAMPLES)
    parts = [f"{r.symbol} {r.date}: {getattr(r, column)!r}" for r in rows.itertuples(index=False)]
    more = int(mask.sum()) - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def validate_ohlcv(frame: pd.DataFrame, *, today: datetime | None = None) -> tuple[pd.DataFrame, int]:
    """Return (clean canonical frame, number of exact duplicate rows collapsed), or raise an IngestError.

    The returned frame has CANONICAL_COLUMNS with types: symbol str (upper case), date
    `datetime.date`, prices float64, volume int64, optional columns float64 (may be null).
    """
    if frame is None or len(frame) == 0:
        raise EmptyDataError("no rows to load: the input is empty")
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(f"missing required column(s): {', '.join(missing)}; got {', '.join(map(str, frame.columns))}")
    unknown = [c for c in frame.columns if c not in CANONICAL_COLUMNS]
    if unknown:
        raise SchemaError(
            f"unknown column(s): {', '.join(map(str, unknown))}; expected only {', '.join(CANONICAL_COLUMNS)}"
        )

    out = pd.DataFrame(index=frame.index)
    symbols = frame["symbol"].astype("string").str.strip().str.upper()
    bad_symbol = symbols.isna() | ~symbols.fillna("").str.match(SYMBOL_PATTERN)
    if bad_symbol.any():
        shown = ", ".join(repr(s) for s in frame.loc[bad_symbol, "symbol"].head(_MAX_EXAMPLES))
        raise InvalidValueError(f"invalid symbol(s): {shown} (expected 1-20 of A-Z 0-9 . - ^ =)")
    out["symbol"] = symbols.astype(str)

    dates = pd.to_datetime(frame["date"], errors="coerce", format="mixed")
    if dates.isna().any():
        mask = dates.isna()
        tmp = frame.assign(symbol=out["symbol"])
        raise InvalidValueError(f"unparseable date(s) in column 'date': {_examples(tmp, mask, 'date')}")
    out["date"] = dates.dt.date
    now = today or datetime.now(UTC)
    future = out["date"] > now.date()
    if future.any():
        raise InvalidValueError(
            f"date(s) in the future (after {now.date()}): {_examples(out.assign(d=out['date']), future, 'd')}"
        )

    for column in [*PRICE_COLUMNS, "volume", *[c for c in OPTIONAL_NUMERIC if c in frame.columns]]:
        raw = frame[column]
        numeric = pd.to_numeric(raw, errors="coerce")
        blank = raw.isna() | raw.astype("string").str.strip().isin(["", "None", "null", "nan", "NaN"])
        not_numeric = numeric.isna() & ~blank
        if not_numeric.any():
            tmp = out.assign(v=raw)
            raise InvalidValueError(f"non-numeric value(s) in column '{column}': {_examples(tmp, not_numeric, 'v')}")
        required = column in PRICE_COLUMNS or column == "volume"
        if required and numeric.isna().any():
            tmp = out.assign(v=raw)
            raise InvalidValueError(
                f"missing value(s) in required column '{column}': {_examples(tmp, numeric.isna(), 'v')}"
            )
        if column == "volume":
            if (numeric < 0).any():
                tmp = out.assign(v=raw)
                raise InvalidValueError(f"negative volume: {_examples(tmp, numeric < 0, 'v')}")
            out[column] = numeric.round().astype("int64")
        else:
            out[column] = numeric.astype("float64")
    for column in OPTIONAL_NUMERIC:
        if column not in out:
            out[column] = pd.Series(float("nan"), index=out.index, dtype="float64")

    out = out[CANONICAL_COLUMNS].reset_index(drop=True)
    before = len(out)
    out = out.drop_duplicates(ignore_index=True)
    collapsed = before - len(out)
    conflicting = out.duplicated(["symbol", "date"], keep=False)
    if conflicting.any():
        keys = out.loc[conflicting, ["symbol", "date"]].drop_duplicates().head(_MAX_EXAMPLES)
        shown = ", ".join(f"{r.symbol} {r.date}" for r in keys.itertuples(index=False))
        raise DuplicateRowsError(
            f"{int(conflicting.sum())} rows share a (symbol, date) with different values: {shown}; "
            "the feed contradicts itself, fix or drop those rows before loading"
        )
    return out.sort_values(["symbol", "date"], ignore_index=True), collapsed
