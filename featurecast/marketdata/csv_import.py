"""CSV import: Alpha Vantage's CSV layout and generic OHLCV CSVs with header mapping.

Headers are matched case-insensitively against known synonyms (`Date`, `timestamp`, `Adj Close`,
`adjusted_close`, ...). Anything else is an unknown column and a clear error, unless the caller maps it
(`mapping={"Datum": "date"}`) or ignores it (`ignore=["Notes"]`). A file without a symbol column takes
the symbol given by the caller, or else its file name (`MSFT.csv` -> MSFT).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from featurecast.marketdata.errors import EmptyDataError, SchemaError

SYNONYMS: dict[str, str] = {
    "date": "date",
    "timestamp": "date",
    "day": "date",
    "trade_date": "date",
    "symbol": "symbol",
    "ticker": "symbol",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "adj close": "adjusted_close",
    "adj_close": "adjusted_close",
    "adjclose": "adjusted_close",
    "adjusted_close": "adjusted_close",
    "adjusted close": "adjusted_close",
    "volume": "volume",
    "vol": "volume",
    "dividend_amount": "dividend_amount",
    "dividend": "dividend_amount",
    "dividends": "dividend_amount",
    "split_coefficient": "split_coefficient",
    "split": "split_coefficient",
    "stock splits": "split_coefficient",
}


def map_columns(
    columns: Iterable[str], mapping: Mapping[str, str] | None = None, ignore: Iterable[str] = ()
) -> dict[str, str]:
    """Map file headers to canonical names, or raise SchemaError naming what cannot be mapped."""
    explicit = {k.strip().lower(): v for k, v in (mapping or {}).items()}
    ignored = {c.strip().lower() for c in ignore}
    result: dict[str, str] = {}
    unknown: list[str] = []
    for column in columns:
        key = str(column).strip().lower()
        if key in ignored:
            continue
        target = explicit.get(key) or SYNONYMS.get(key) or SYNONYMS.get(key.replace(" ", "_"))
        if target is None:
            unknown.append(str(column))
        else:
            result[str(column)] = target
    if unknown:
        raise SchemaError(
            f"unknown column(s) {', '.join(repr(c) for c in unknown)}; map them with --map 'COLUMN=field' "
            f"(fields: {', '.join(sorted(set(SYNONYMS.values())))}) or skip them with --ignore COLUMN"
        )
    targets = list(result.values())
    clashes = sorted({t for t in targets if targets.count(t) > 1})
    if clashes:
        raise SchemaError(f"several columns map to the same field: {', '.join(clashes)}")
    return result


def read_ohlcv_csv(
    source: Path | str | io.TextIOBase,
    *,
    symbol: str | None = None,
    mapping: Mapping[str, str] | None = None,
    ignore: Iterable[str] = (),
) -> pd.DataFrame:
    """Read one CSV into canonical columns (still untyped: validation happens at landing)."""
    name = Path(source).stem if isinstance(source, Path | str) else None
    try:
        text = Path(source).read_text() if isinstance(source, Path | str) else source.read()
    except UnicodeDecodeError as exc:
        raise SchemaError(f"{name or 'input'}: not a text CSV file ({exc.reason})") from None
    if not text.strip():
        raise EmptyDataError(f"{name or 'input'}: the file is empty")
    try:
        dialect = csv.Sniffer().sniff(text.splitlines()[0], delimiters=",;\t|")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    try:
        raw = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise SchemaError(f"{name or 'input'}: malformed CSV: {str(exc).strip()}") from None
    if raw.empty:
        raise EmptyDataError(f"{name or 'input'}: the file has a header but no rows")
    renamed = raw.rename(columns=map_columns(raw.columns, mapping, ignore))
    renamed = renamed[[c for c in renamed.columns if c in set(SYNONYMS.values())]]
    if "symbol" not in renamed.columns:
        chosen = symbol or name
        if not chosen:
            raise SchemaError("the file has no symbol column: pass the symbol explicitly")
        renamed.insert(0, "symbol", chosen.upper())
    elif symbol:
        renamed["symbol"] = symbol.upper()
    return renamed.replace({"": None})
