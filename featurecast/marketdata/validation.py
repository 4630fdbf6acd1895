"""Schema-level validation of a batch before it lands: what can't be parsed never reaches the warehouse.

Division of labour: this module rejects input that is not well-formed daily OHLCV (missing columns,
non-numeric or missing prices, unparseable or future dates, conflicting duplicates, bad symbols).
Whether well-formed prices are *plausible* (OHLC consistency, non-positive prices, spikes, stale prices,
gaps) is judged by the dbt guardrails, which name the rule that fired; raw keeps what the feed sent.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd

from featurecast.calendar import supported_span
from featurecast.marketdata.errors import DuplicateRowsError, EmptyDataError, InvalidValueError, SchemaError

PRICE_COLUMNS = ["open", "high", "low", "close"]
# The intraday fields: a bar has all three or none (a close-only bar, as most free daily sources give).
RANGE_COLUMNS = ["open", "high", "low"]
# Volume is optional: an index has none. A missing column or a blank value lands as null.
OPTIONAL_NUMERIC = ["volume", "adjusted_close", "dividend_amount", "split_coefficient"]
REQUIRED_COLUMNS = ["symbol", "date", "close"]
CANONICAL_COLUMNS = ["symbol", "date", *PRICE_COLUMNS, *OPTIONAL_NUMERIC]
# Date layouts a file may use; one per file, found from all its rows. Year-first means year-month-day.
DATE_FORMATS = ("ISO8601", "%m/%d/%Y", "%d/%m/%Y", "%m-%d-%Y", "%d-%m-%Y", "%d.%m.%Y", "%Y%m%d", "%Y/%m/%d")
_DATE_FORMAT_NAMES = {"ISO8601": "YYYY-MM-DD"}
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9^][A-Z0-9.\-^=]{0,19}$")  # ^GSPC: Yahoo writes indices with a leading ^

_MAX_EXAMPLES = 5
SYMBOL_ALPHABET = (
    "1-20 ASCII characters of A-Z 0-9 . - ^ = (lower case is upper-cased), starting with a letter, digit or ^"
)


def normalize_symbol(text: str) -> str:
    """A symbol as featurecast stores it (ASCII, upper case), or InvalidValueError naming the alphabet.

    Nothing outside ASCII is upper-cased: Python maps `ı` to `I` and `ﬃ` to `FFI`, which would relabel data
    silently; such a symbol is refused instead."""
    stripped = text.strip()
    if not stripped:
        raise InvalidValueError(f"the symbol is empty; a symbol is {SYMBOL_ALPHABET}")
    if not stripped.isascii() or not SYMBOL_PATTERN.match(stripped.upper()):
        raise InvalidValueError(f"invalid symbol {stripped[:40]!r}: a symbol is {SYMBOL_ALPHABET}")
    return stripped.upper()


def _examples(frame: pd.DataFrame, mask: pd.Series, column: str) -> str:
    rows = frame.loc[mask].head(_MAX_EXAMPLES)
    parts = [f"{r.symbol} {r.date}: {getattr(r, column)!r}" for r in rows.itertuples(index=False)]
    more = int(mask.sum()) - len(parts)
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")


def _format_name(fmt: str) -> str:
    return _DATE_FORMAT_NAMES.get(fmt, fmt)


def parse_dates(values: pd.Series, *, date_format: str | None = None, where: str = "input") -> pd.Series:
    """Parse a column of date strings with one format for all of them, as `datetime64` values.

    With `date_format` (a strptime pattern, or ISO8601) every value must match it. Otherwise the format
    is found from all rows: exactly one candidate of DATE_FORMATS must parse every value. None fitting
    (a typo, or rows in two layouts) and several fitting (02-01-2018: day or month first?) are errors
    that show examples and name --date-format; rows are never parsed with different orders.
    """
    # Files repeat each date once per symbol: parse the distinct strings (a few thousand, not millions of rows)
    codes, distinct = pd.factorize(values.astype("string").str.strip(), use_na_sentinel=False)
    weights = pd.Series(np.bincount(codes, minlength=len(distinct)))
    parsed = _parse_distinct(pd.Series(distinct, dtype="string"), weights, date_format, where)
    return pd.Series(parsed.to_numpy()[codes], index=values.index)


def _parse_distinct(text: pd.Series, weights: pd.Series, date_format: str | None, where: str) -> pd.Series:
    """parse_dates on the distinct values `text`, each standing for `weights` rows."""
    rows = int(weights.sum())
    if date_format is not None:
        try:
            parsed = pd.to_datetime(text, format=date_format, errors="coerce")
        except (ValueError, TypeError) as exc:
            raise InvalidValueError(
                f"{where}: --date-format {date_format[:40]!r} is not a strptime date pattern ({exc})"
            ) from None
        bad = parsed.isna()
        if bad.any():
            shown = ", ".join(repr(v) for v in text[bad].unique()[:_MAX_EXAMPLES])
            raise InvalidValueError(f"{where}: date(s) not in the format {date_format!r}: {shown}")
        return _whole_days(parsed, text, where)
    fits: dict[str, pd.Series] = {}
    best_partial: tuple[int, str] = (0, "")
    for fmt in DATE_FORMATS:
        parsed = pd.to_datetime(text, format=fmt, errors="coerce")
        parsed_count = int(weights[parsed.notna().to_numpy()].sum())
        if parsed_count == rows:
            fits[fmt] = parsed
        elif parsed_count > best_partial[0]:
            best_partial = (parsed_count, fmt)
    readings = list(fits.values())
    if readings and all(r.equals(readings[0]) for r in readings[1:]):  # e.g. 20180102 as ISO 8601 and %Y%m%d
        return _whole_days(readings[0], text, where)
    if len(fits) > 1:
        names = " or ".join(_format_name(f) for f in fits)
        shown = ", ".join(repr(v) for v in text.unique()[:_MAX_EXAMPLES])
        raise InvalidValueError(
            f"{where}: ambiguous dates ({shown}) read as {names}; say which with --date-format, e.g. "
            f"--date-format '{next(iter(fits))}'"
        )
    unparsed = text
    if best_partial[0]:
        fmt = best_partial[1]
        unparsed = text[pd.to_datetime(text, format=fmt, errors="coerce").isna()]
        shown = ", ".join(repr(v) for v in unparsed.unique()[:_MAX_EXAMPLES])
        raise InvalidValueError(
            f"{where}: dates in more than one format or unparseable: {best_partial[0]} of {rows} rows read as "
            f"{_format_name(fmt)}, but not {shown}; one format per file (or set it with --date-format)"
        )
    shown = ", ".join(repr(v) for v in unparsed.unique()[:_MAX_EXAMPLES])
    raise InvalidValueError(f"{where}: unparseable date(s): {shown}; set the format with --date-format")


def _whole_days(parsed: pd.Series, text: pd.Series, where: str) -> pd.Series:
    """`parsed`, unless a value has a time of day: a daily bar is a session, and dropping the time would
    silently move an intraday or time-zone-shifted stamp onto a day (midnight is the day itself)."""
    if isinstance(parsed.dtype, pd.DatetimeTZDtype) or parsed.dtype == object:
        raise InvalidValueError(
            f"{where}: dates carry a time zone ({', '.join(repr(v) for v in text.unique()[:_MAX_EXAMPLES])}); "
            "a daily file gives the session's date only (YYYY-MM-DD)"
        )
    timed = parsed.notna() & (parsed != parsed.dt.normalize())
    if timed.any():
        shown = ", ".join(repr(v) for v in text[timed].unique()[:_MAX_EXAMPLES])
        raise InvalidValueError(
            f"{where}: {int(timed.sum())} date(s) carry a time of day ({shown}); a daily file gives the session's "
            "date only (YYYY-MM-DD, or a time of 00:00): intraday bars are not daily bars"
        )
    return parsed


def validate_ohlcv(frame: pd.DataFrame, *, today: datetime | None = None) -> tuple[pd.DataFrame, int]:
    """Return (clean canonical frame, number of exact duplicate rows collapsed), or raise an IngestError.

    The returned frame has CANONICAL_COLUMNS with types: symbol str (upper case), date
    `datetime.date`, prices float64, volume Int64 (null where the feed has none), optional columns
    float64 (may be null). Dates outside the calendar's span, non-finite numbers and dates in mixed or
    ambiguous formats are rejected with examples.
    """
    if frame is None or len(frame) == 0:
        raise EmptyDataError("no rows to load: the input is empty")
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise SchemaError(f"missing required column(s): {', '.join(missing)}; got {', '.join(map(str, frame.columns))}")
    partial = [c for c in RANGE_COLUMNS if c in frame.columns]
    if partial and len(partial) < len(RANGE_COLUMNS):
        absent = [c for c in RANGE_COLUMNS if c not in frame.columns]
        raise SchemaError(
            f"column(s) {', '.join(partial)} without {', '.join(absent)}: a bar gives open, high and low together, "
            "or none of them (close-only)"
        )
    unknown = [c for c in frame.columns if c not in CANONICAL_COLUMNS]
    if unknown:
        raise SchemaError(
            f"unknown column(s): {', '.join(map(str, unknown))}; expected only {', '.join(CANONICAL_COLUMNS)}"
        )

    out = pd.DataFrame(index=frame.index)
    # judged on the distinct symbols (a few, each on thousands of rows); checked before upper-casing: a
    # non-ASCII letter would be upper-cased into another symbol (ı -> I)
    codes, distinct = pd.factorize(frame["symbol"].astype("string").str.strip(), use_na_sentinel=False)
    stripped = pd.Series(distinct, dtype="string")
    ascii_only = stripped.fillna("").map(str.isascii).astype(bool)
    upper = stripped.str.upper()
    bad_distinct = (upper.isna() | ~ascii_only | ~upper.fillna("").str.match(SYMBOL_PATTERN)).to_numpy(dtype=bool)
    bad_symbol = pd.Series(bad_distinct[codes], index=frame.index)
    symbols = pd.Series(upper.to_numpy(dtype=object)[codes], index=frame.index)
    if bad_symbol.any():
        shown = ", ".join(repr(s) for s in pd.unique(frame.loc[bad_symbol, "symbol"])[:_MAX_EXAMPLES])
        raise InvalidValueError(
            f"invalid symbol(s): {shown} in {int(bad_symbol.sum())} row(s) (a symbol is {SYMBOL_ALPHABET})"
        )
    out["symbol"] = symbols.astype(str)

    raw_dates = frame["date"]
    if pd.api.types.is_datetime64_any_dtype(raw_dates) or raw_dates.map(lambda v: isinstance(v, date)).all():
        dates = pd.to_datetime(raw_dates, errors="coerce")
        if dates.isna().any():
            shown = _examples(out.assign(d=raw_dates), dates.isna(), "d")
            raise InvalidValueError(f"missing date(s) in column 'date': {shown}")
    else:
        dates = parse_dates(raw_dates, where="column 'date'")
    out["date"] = dates.dt.date
    now = today or datetime.now(UTC)
    future = out["date"] > now.date()
    if future.any():
        raise InvalidValueError(
            f"date(s) in the future (after {now.date()}): {_examples(out.assign(d=out['date']), future, 'd')}"
        )
    first, last = supported_span()
    outside = (out["date"] < first) | (out["date"] > last)
    if outside.any():
        raise InvalidValueError(
            f"date(s) outside the NYSE calendar featurecast supports ({first} to {last}): "
            f"{_examples(out.assign(d=out['date']), outside, 'd')}"
        )

    for column in [c for c in [*PRICE_COLUMNS, *OPTIONAL_NUMERIC] if c in frame.columns]:
        raw = frame[column]
        if pd.api.types.is_numeric_dtype(raw):  # parsed already (csv_import, per chunk): only nulls are blank
            blank, numeric = raw.isna(), raw
        else:
            blank = raw.isna() | raw.astype("string").str.strip().isin(["", "None", "null", "nan", "NaN"])
            numeric = pd.to_numeric(raw.where(~blank), errors="coerce")
        not_numeric = numeric.isna() & ~blank
        if not_numeric.any():
            tmp = out.assign(v=raw)
            raise InvalidValueError(f"non-numeric value(s) in column '{column}': {_examples(tmp, not_numeric, 'v')}")
        infinite = numeric.notna() & ~np.isfinite(numeric.astype("float64"))
        if infinite.any():
            tmp = out.assign(v=raw)
            raise InvalidValueError(
                f"non-finite value(s) in column '{column}' (infinity or a number too large for a double): "
                f"{_examples(tmp, infinite, 'v')}"
            )
        if column == "close" and numeric.isna().any():
            tmp = out.assign(v=raw)
            raise InvalidValueError(
                f"missing value(s) in required column '{column}': {_examples(tmp, numeric.isna(), 'v')}"
            )
        if column == "volume":
            if (numeric < 0).any():
                tmp = out.assign(v=raw)
                raise InvalidValueError(f"negative volume: {_examples(tmp, numeric < 0, 'v')}")
            too_large = numeric >= 2**63
            if too_large.any():
                tmp = out.assign(v=raw)
                raise InvalidValueError(f"volume too large: {_examples(tmp, too_large, 'v')}")
            out[column] = numeric.round().astype("Int64")
        else:
            out[column] = numeric.astype("float64")
    # open, high and low: all three or none on each bar (none: a close-only bar, its range features null)
    given = out[[c for c in RANGE_COLUMNS if c in out]].notna()
    if len(given.columns):
        mixed = given.any(axis=1) & ~given.all(axis=1)
        if mixed.any():
            tmp = out.assign(v=frame[RANGE_COLUMNS].astype(str).agg("/".join, axis=1))
            raise InvalidValueError(
                f"bar(s) with some of open/high/low blank (a bar gives all three or none): {_examples(tmp, mixed, 'v')}"
            )
    for column in [*RANGE_COLUMNS, *OPTIONAL_NUMERIC]:
        if column not in out:
            out[column] = (
                pd.Series(pd.NA, index=out.index, dtype="Int64")
                if column == "volume"
                else pd.Series(float("nan"), index=out.index, dtype="float64")
            )

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
