"""CSV import: Alpha Vantage's CSV layout and generic OHLCV CSVs with header mapping.

Headers are matched case-insensitively against known synonyms (`Date`, `timestamp`, `Adj Close`,
`adjusted_close`, ...). Anything else is an unknown column and a clear error, unless the caller maps it
(`mapping={"Datum": "date"}`) or ignores it (`ignore=["Notes"]`). A file without a symbol column takes
the symbol given by the caller, or else its file name (`MSFT.csv` -> MSFT). A first column with no
header (a pandas index written by `to_csv`) is the date when nothing else is. Dates are read with one
format per file, found from all its rows or given (`date_format`). `.csv.gz` files are read as is.
"""

from __future__ import annotations

import csv
import gzip
import io
from collections.abc import Iterable, Mapping
from pathlib import Path

import pandas as pd

from featurecast.marketdata.errors import EmptyDataError, SchemaError
from featurecast.marketdata.validation import SYMBOL_PATTERN, parse_dates

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
    columns = list(columns)
    result: dict[str, str] = {}
    unknown: list[str] = []
    for position, column in enumerate(columns):
        key = str(column).strip().lower()
        if key in ignored:
            continue
        target = explicit.get(key) or SYNONYMS.get(key) or SYNONYMS.get(key.replace(" ", "_"))
        if target is None and position == 0 and key in ("", "unnamed: 0"):
            target = "date" if not _maps_to_date(columns[1:], explicit) else None
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


def _maps_to_date(columns: Iterable[str], explicit: Mapping[str, str]) -> bool:
    keys = [str(c).strip().lower() for c in columns]
    return any((explicit.get(k) or SYNONYMS.get(k) or SYNONYMS.get(k.replace(" ", "_"))) == "date" for k in keys)


def _read_text(path: Path) -> str:
    if path.suffix == ".gz":
        with gzip.open(path, "rt") as handle:
            return handle.read()
    return path.read_text()


def _file_symbol(path_name: str) -> str:
    """MSFT.csv -> MSFT, msft.csv.gz -> MSFT."""
    stem = Path(path_name).name
    for suffix in (".gz", ".csv", ".txt", ".tsv"):
        stem = stem.removesuffix(suffix)
    return stem.upper()


def read_ohlcv_csv(
    source: Path | str | io.TextIOBase,
    *,
    symbol: str | None = None,
    mapping: Mapping[str, str] | None = None,
    ignore: Iterable[str] = (),
    date_format: str | None = None,
) -> pd.DataFrame:
    """Read one CSV into canonical columns, dates parsed (other values still text: validated at landing)."""
    name = Path(source).name if isinstance(source, Path | str) else None
    where = name or "input"
    try:
        text = _read_text(Path(source)) if isinstance(source, Path | str) else source.read()
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError) as exc:
        raise SchemaError(f"{where}: not a text CSV file ({exc})") from None
    except OSError as exc:
        raise SchemaError(f"{where}: cannot read the file ({exc.strerror or exc})") from None
    if not text.strip():
        raise EmptyDataError(f"{where}: the file is empty")
    try:
        dialect = csv.Sniffer().sniff(text.splitlines()[0], delimiters=",;\t|")
        delimiter = dialect.delimiter
    except csv.Error:
        delimiter = ","
    try:
        raw = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise SchemaError(f"{where}: malformed CSV: {str(exc).strip()}") from None
    if raw.empty:
        raise EmptyDataError(f"{where}: the file has a header but no rows")
    try:
        renamed = raw.rename(columns=map_columns(raw.columns, mapping, ignore))
    except SchemaError as exc:
        raise SchemaError(f"{where}: {exc}") from None
    renamed = renamed[[c for c in renamed.columns if c in set(SYNONYMS.values())]].copy()
    if "date" in renamed.columns:
        renamed["date"] = parse_dates(renamed["date"].replace({"": None}), date_format=date_format, where=where)
    if "symbol" not in renamed.columns:
        if symbol:
            chosen = symbol.strip().upper()
        elif name:
            chosen = _file_symbol(name)
            if not SYMBOL_PATTERN.match(chosen):
                raise SchemaError(
                    f"{where}: the file has no symbol column and its name gives {chosen!r}, which is not a ticker "
                    "(1-20 of A-Z 0-9 . - ^ =); name the symbol with --symbol, e.g. --symbol ^GSPC"
                )
        else:
            raise SchemaError("the file has no symbol column: pass the symbol explicitly")
        renamed.insert(0, "symbol", chosen)
    elif symbol:
        renamed["symbol"] = symbol.upper()
    return renamed.replace({"": None})
