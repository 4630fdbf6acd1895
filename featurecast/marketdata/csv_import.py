"""CSV import: Alpha Vantage's CSV layout, generic OHLCV CSVs with header mapping, close-only files and wide
files (a date column and one close column per symbol).

Three layouts are read (docs/ingest.md):
- OHLCV: a date, open, high, low and close (optionally volume, adjusted close, symbol, ...);
- close-only: a date and a close or adjusted close (optionally volume and symbol): its bars land with no
  open, high or low, and the features that need the intraday range are null for them, never made up;
- wide: a date and one column of closes per symbol (`Date,AAPL,MSFT`), found automatically when every
  other header is a ticker and none is a field name, or forced with `wide=True` (`--wide`).

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
import os
import stat
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd

from featurecast.marketdata.errors import EmptyDataError, InvalidValueError, SchemaError
from featurecast.marketdata.validation import SYMBOL_PATTERN, normalize_symbol, parse_dates

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
    "price": "close",
    "close price": "close",
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


LAYOUTS = (
    "layouts: OHLCV (date, open, high, low, close[, volume]); close-only (date, close or adj close[, volume]); "
    "wide (date + one close column per symbol). Use `featurecast ingest csv FILE [--symbol TICKER]`, "
    "`featurecast ingest csv FILE --wide`, --map 'COLUMN=field' to rename a header"
)


def _found(columns: Iterable[str]) -> str:
    names = [str(c) for c in columns]
    shown = ", ".join(repr(c[:40]) for c in names[:12])
    return shown + (f" and {len(names) - 12} more" if len(names) > 12 else "")


@dataclass(frozen=True)
class _Layout:
    """How a file's columns become canonical ones: `columns` maps headers to fields (OHLCV and close-only),
    or `date_column` and `symbols` (header -> ticker) describe a wide file."""

    kind: str  # "ohlcv", "close_only" or "wide"
    columns: dict[str, str]
    date_column: str = ""
    symbols: dict[str, str] | None = None


def _wide_layout(columns: list[str], mapping: Mapping[str, str] | None, ignore: Iterable[str]) -> _Layout | None:
    """The wide reading of `columns`, or None: one date column (a date header, or the first column) and every
    other header a ticker that names no field."""
    explicit = {k.strip().lower(): v for k, v in (mapping or {}).items()}
    ignored = {c.strip().lower() for c in ignore}
    kept = [c for c in columns if str(c).strip().lower() not in ignored]
    targets = {c: explicit.get(str(c).strip().lower()) or _synonym(str(c)) for c in kept}
    dates = [c for c, t in targets.items() if t == "date"]
    if not dates and kept and str(kept[0]).strip().lower() in ("", "unnamed: 0"):
        dates = [kept[0]]
    if len(dates) != 1 or len(kept) < 2:
        return None
    symbols: dict[str, str] = {}
    for column in kept:
        if column == dates[0]:
            continue
        if targets[column] is not None:
            return None
        try:
            symbols[str(column)] = normalize_symbol(str(column))
        except InvalidValueError:
            return None
    return _Layout("wide", {}, date_column=str(dates[0]), symbols=symbols)


def _synonym(column: str) -> str | None:
    key = column.strip().lower()
    return SYNONYMS.get(key) or SYNONYMS.get(key.replace(" ", "_"))


def _layout(
    columns: list[str], mapping: Mapping[str, str] | None, ignore: Iterable[str], wide: bool | None, where: str
) -> _Layout:
    """The file's layout, or SchemaError naming the file, the columns found and the layouts accepted."""
    if wide is not False:
        found = _wide_layout(columns, mapping, ignore)
        if found is not None:
            return found
        if wide:
            raise SchemaError(
                f"{where}: --wide needs a date column and one column per symbol, each header a ticker; found "
                f"{_found(columns)}"
            )
    try:
        mapped = map_columns(columns, mapping, ignore)
    except SchemaError as exc:
        if not isinstance(exc, UnknownColumnsError):
            raise SchemaError(f"{where}: {exc}") from None
        raise SchemaError(
            f"{where}: found columns {_found(columns)}; unknown column(s) {_found(exc.unknown)}; {LAYOUTS}"
        ) from None
    fields = set(mapped.values())
    if "date" not in fields or not fields & {"close", "adjusted_close"}:
        has_close = bool(fields & {"close", "adjusted_close"})
        absent = " and ".join(f for f, there in (("date", "date" in fields), ("close", has_close)) if not there)
        raise SchemaError(f"{where}: no {absent} column; found {_found(columns)}; {LAYOUTS}")
    range_fields = fields & {"open", "high", "low"}
    if range_fields and len(range_fields) < 3:
        absent = ", ".join(f for f in ("open", "high", "low") if f not in fields)
        raise SchemaError(
            f"{where}: has {', '.join(sorted(range_fields))} but no {absent}: give open, high and low together, "
            f"or none of them (close-only); found {_found(columns)}; {LAYOUTS}"
        )
    return _Layout("ohlcv" if range_fields else "close_only", mapped)


def _canonical(chunk: pd.DataFrame, layout: _Layout) -> pd.DataFrame:
    """One chunk of the file in canonical columns."""
    if layout.kind == "wide":
        assert layout.symbols is not None
        long = chunk[[layout.date_column, *layout.symbols]].melt(
            id_vars=layout.date_column, var_name="symbol", value_name="close"
        )
        long = long[long["close"].astype(str).str.strip() != ""]  # a symbol not listed yet, or delisted
        long["symbol"] = long["symbol"].map(layout.symbols)
        return long.rename(columns={layout.date_column: "date"})[["symbol", "date", "close"]].reset_index(drop=True)
    kept = chunk[list(layout.columns)].rename(columns=layout.columns)
    if "close" not in kept.columns:  # an adjusted close only: it is the close
        kept["close"] = kept["adjusted_close"]
    return kept


def _read_chunks(
    stream: io.BufferedReader | io.BytesIO,
    where: str,
    mapping: Mapping[str, str] | None,
    ignore: Iterable[str],
    max_rows: int,
    wide: bool | None = None,
) -> tuple[pd.DataFrame, _Layout]:
    head = _head(stream)
    if not head.strip():
        raise EmptyDataError(f"{where}: the file is empty")
    first = head.lstrip().split(b"\n", 1)[0].decode("utf-8", "replace")
    try:
        delimiter = csv.Sniffer().sniff(first, delimiters=",;\t|").delimiter
    except csv.Error:
        delimiter = ","
    chunks: list[pd.DataFrame] = []
    layout: _Layout | None = None
    rows = 0
    try:
        reader = pd.read_csv(
            stream,
            sep=delimiter,
            dtype=str,
            keep_default_na=False,
            skipinitialspace=True,
            chunksize=CHUNK_ROWS,
            encoding="utf-8",
        )
        for chunk in reader:
            if layout is None:
                layout = _layout([str(c) for c in chunk.columns], mapping, ignore, wide, where)
            rows += len(chunk)
            if rows > max_rows:
                raise SchemaError(
                    f"{where}: more than the import limit of {max_rows:,} rows; split the file, or raise "
                    "FEATURECAST_IMPORT_MAX_ROWS"
                )
            chunks.append(_numbers_where_clean(_canonical(chunk, layout)))
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        if "No columns to parse" in str(exc):
            raise EmptyDataError(f"{where}: the file is empty") from None
        raise SchemaError(f"{where}: malformed CSV: {str(exc).strip()}") from None
    if not chunks or rows == 0 or layout is None:
        raise EmptyDataError(f"{where}: the file has a header but no rows")
    frame = pd.concat(chunks, ignore_index=True) if len(chunks) > 1 else chunks[0]
    if frame.empty:
        raise EmptyDataError(f"{where}: the wide file has no prices (every cell is blank)")
    return frame, layout


_NUMERIC = ("open", "high", "low", "close", "adjusted_close", "volume", "dividend_amount", "split_coefficient")


def _numbers_where_clean(chunk: pd.DataFrame) -> pd.DataFrame:
    """Numeric columns as float64 where every value of the chunk parses as a finite number; a column with a
    blank, a word or an infinity stays text, so landing's validation quotes the offending values."""
    for column in chunk.columns.intersection(_NUMERIC):
        numeric = pd.to_numeric(chunk[column], errors="coerce")
        if numeric.notna().all() and np.isfinite(numeric.to_numpy(dtype="float64")).all():
            chunk[column] = numeric.astype("float64")
    return chunk


class UnknownColumnsError(SchemaError):
    """Headers no synonym, mapping or ignore covers; `unknown` names them."""

    def __init__(self, unknown: list[str]) -> None:
        self.unknown = unknown
        super().__init__(
            f"unknown column(s) {', '.join(repr(c) for c in unknown)}; map them with --map 'COLUMN=field' "
            f"(fields: {', '.join(sorted(set(SYNONYMS.values())))}) or skip them with --ignore COLUMN"
        )


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
        target = explicit.get(key) or _synonym(key)
        if target is None and position == 0 and key in ("", "unnamed: 0"):
            target = "date" if not _maps_to_date(columns[1:], explicit) else None
        if target is None:
            unknown.append(str(column))
        else:
            result[str(column)] = target
    if unknown:
        raise UnknownColumnsError(unknown)
    targets = list(result.values())
    clashes = sorted({t for t in targets if targets.count(t) > 1})
    if clashes:
        raise SchemaError(f"several columns map to the same field: {', '.join(clashes)}")
    return result


def _maps_to_date(columns: Iterable[str], explicit: Mapping[str, str]) -> bool:
    keys = [str(c).strip().lower() for c in columns]
    return any((explicit.get(k) or _synonym(k)) == "date" for k in keys)


# Documented limits (docs/ingest.md): a file that expands past them is refused before it fills memory.
MAX_IMPORT_BYTES = 4 * 1024**3  # decompressed bytes of one file (4 GiB, about 60 M OHLCV rows)
MAX_IMPORT_ROWS = 50_000_000  # rows of one file
CHUNK_ROWS = 500_000  # rows parsed at a time: text columns become numbers chunk by chunk


class _TooLarge(Exception):
    pass


class _Limited(io.RawIOBase):
    """A byte stream that stops with `_TooLarge` once more than `limit` bytes were read from it."""

    def __init__(self, stream: BinaryIO, limit: int) -> None:
        self._stream, self._limit, self.read_bytes = stream, limit, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        data = self._stream.read(len(buffer))
        self.read_bytes += len(data)
        if self.read_bytes > self._limit:
            raise _TooLarge
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._stream.close()
        super().close()


def open_regular_file(path: Path) -> BinaryIO:
    """Open `path` for reading if it is a regular file; a symbolic link, a directory, a device or a pipe is
    refused by name, and nothing of what it points to is read (so nothing of it can be echoed)."""
    where = path.name
    try:
        mode = os.lstat(path).st_mode
    except OSError as exc:
        raise SchemaError(f"{where}: cannot read the file ({exc.strerror or exc})") from None
    if stat.S_ISLNK(mode):
        raise SchemaError(
            f"{where}: is a symbolic link; featurecast reads regular files only, pass the file it points to"
        )
    if not stat.S_ISREG(mode):
        kind = "directory" if stat.S_ISDIR(mode) else "pipe" if stat.S_ISFIFO(mode) else "device or socket"
        raise SchemaError(f"{where}: is a {kind}, not a regular file")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)  # a link swapped in after the check is refused too
    except OSError as exc:
        raise SchemaError(f"{where}: cannot read the file ({exc.strerror or exc})") from None
    return os.fdopen(fd, "rb")


def _byte_stream(source: Path, max_bytes: int) -> io.BufferedReader:
    raw: BinaryIO = open_regular_file(source)
    if source.suffix == ".gz":
        raw = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
    return io.BufferedReader(_Limited(raw, max_bytes), buffer_size=1 << 20)


def _head(stream: io.BufferedReader | io.BytesIO) -> bytes:
    """The first bytes of `stream`, without consuming them."""
    if isinstance(stream, io.BytesIO):
        return stream.getvalue()[: 1 << 16]
    return stream.peek(1 << 16)[: 1 << 16]


def _file_symbol(path_name: str) -> str:
    """MSFT.csv -> MSFT, msft.csv.gz -> MSFT (a non-ASCII name is returned as it is: `ı`.upper() is `I`)."""
    stem = Path(path_name).name
    for suffix in (".gz", ".csv", ".txt", ".tsv"):
        stem = stem.removesuffix(suffix)
    return stem.upper() if stem.isascii() else stem


def read_ohlcv_csv(
    source: Path | str | io.TextIOBase,
    *,
    symbol: str | None = None,
    mapping: Mapping[str, str] | None = None,
    ignore: Iterable[str] = (),
    date_format: str | None = None,
    max_bytes: int = MAX_IMPORT_BYTES,
    max_rows: int = MAX_IMPORT_ROWS,
    wide: bool | None = None,
) -> pd.DataFrame:
    """Read one CSV into canonical columns, dates parsed, numbers parsed where every value of a chunk is one
    (anything else stays text, for landing's validation to quote). `wide` None finds the layout from the
    header, True insists on a wide file, False never reads one. The layout read is `frame.attrs["layout"]`
    (ohlcv, close_only or wide).

    The file is read `CHUNK_ROWS` at a time, so memory follows the canonical columns, not the text: 3 M rows
    peak at 1.6 GB with landing. More than `max_bytes` decompressed or `max_rows` rows is refused by name."""
    name = Path(source).name if isinstance(source, Path | str) else None
    where = name or "input"
    try:
        if isinstance(source, Path | str):
            stream: io.BufferedReader | io.BytesIO = _byte_stream(Path(source), max_bytes)
        else:
            stream = io.BytesIO(source.read().encode())
        with stream:
            renamed, layout = _read_chunks(stream, where, mapping, ignore, max_rows, wide)
    except _TooLarge:
        raise SchemaError(
            f"{where}: the file expands past the import limit of {max_bytes:,} bytes; split it, or raise "
            "FEATURECAST_IMPORT_MAX_BYTES"
        ) from None
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise SchemaError(f"{where}: not a text CSV file ({exc})") from None
    except OSError as exc:
        raise SchemaError(f"{where}: cannot read the file ({exc.strerror or exc})") from None
    if "date" in renamed.columns:
        renamed["date"] = parse_dates(renamed["date"].replace({"": None}), date_format=date_format, where=where)
    if symbol is not None:
        symbol = normalize_symbol(symbol)
    if layout.kind == "wide" and symbol:
        raise SchemaError(f"{where}: --symbol {symbol} given, but a wide file names its symbols in its header")
    if "symbol" not in renamed.columns:
        if symbol:
            chosen = symbol
        elif name:
            chosen = _file_symbol(name)
            if not chosen.isascii() or not SYMBOL_PATTERN.match(chosen):
                raise SchemaError(
                    f"{where}: the file has no symbol column and its name gives {chosen!r}, which is not a ticker "
                    "(1-20 of A-Z 0-9 . - ^ =); name the symbol with --symbol, e.g. --symbol ^GSPC"
                )
        else:
            raise SchemaError("the file has no symbol column: pass the symbol explicitly")
        renamed.insert(0, "symbol", chosen)
    elif symbol:
        # --symbol names a file's one symbol; it never relabels rows that name their own
        found = sorted({str(v).strip().upper() for v in renamed["symbol"].unique()})
        if found != [symbol]:
            shown = ", ".join(repr(v) for v in found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
            raise SchemaError(
                f"{where}: --symbol {symbol} given, but the file's symbol column holds {shown}; drop --symbol "
                "(each row keeps its own symbol) or fix the file"
            )
    out = renamed.replace({"": None})
    out.attrs["layout"] = layout.kind
    return out
