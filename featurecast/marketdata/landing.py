"""Landing raw daily OHLCV into the DuckDB warehouse: one transaction per batch, idempotent by key.

`raw.daily_ohlcv` is keyed by (symbol, date, source). Loading a batch:
- rows whose key is new are inserted;
- rows whose key exists with different values replace the old row (a provider correction);
- rows whose key exists with identical values are left alone, keeping their original batch_id and
  loaded_at, so re-running an ingestion changes nothing and triggers no downstream recomputation.
The whole batch and its `raw.load_batches` record commit together or not at all.

The raw table has no primary-key constraint on purpose: it is a landing zone other loaders may write
to, and the dbt structural test on the source (unique symbol, date, source) is the check that holds
for every writer. This loader never writes a duplicate key.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path

import duckdb
import pandas as pd

from featurecast.duckdb_rows import one_row, table_exists
from featurecast.marketdata.errors import InvalidValueError
from featurecast.marketdata.validation import CANONICAL_COLUMNS, validate_ohlcv

RAW_SCHEMA = "raw"

DDL = f"""
create schema if not exists {RAW_SCHEMA};
create table if not exists {RAW_SCHEMA}.daily_ohlcv (
    symbol varchar not null,
    date date not null,
    open double,
    high double,
    low double,
    close double not null,
    volume bigint,
    adjusted_close double,
    dividend_amount double,
    split_coefficient double,
    source varchar not null,
    batch_id varchar not null,
    loaded_at timestamp not null
);
create table if not exists {RAW_SCHEMA}.load_batches (
    batch_id varchar primary key,
    source varchar not null,
    symbols varchar[] not null,
    first_date date,
    last_date date,
    rows_received bigint not null,
    duplicates_collapsed bigint not null,
    rows_inserted bigint not null,
    rows_updated bigint not null,
    rows_unchanged bigint not null,
    started_at timestamp not null,
    finished_at timestamp not null,
    parameters json
);
create table if not exists {RAW_SCHEMA}.symbol_properties (
    symbol varchar primary key,
    has_volume boolean,
    declared_by varchar not null,
    declared_at timestamp not null,
    role varchar
);
create table if not exists {RAW_SCHEMA}.quarantine_releases (
    symbol varchar not null,
    date date not null,
    rule varchar not null,
    reason varchar not null,
    released_by varchar not null,
    released_at timestamp not null
);
"""

_VALUE_COLUMNS = [c for c in CANONICAL_COLUMNS if c not in ("symbol", "date")]


@dataclass(frozen=True)
class LoadReport:
    """What one batch did to the warehouse."""

    batch_id: str
    source: str
    symbols: list[str]
    rows_received: int
    duplicates_collapsed: int
    rows_inserted: int
    rows_updated: int
    rows_unchanged: int
    notes: tuple[str, ...] = ()  # how each input was read (csv: its layout)

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def ensure_raw_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Create the raw landing tables if they do not exist, and bring older warehouses up to date."""
    con.execute(DDL)
    # Warehouses made before volume (an index has none), the intraday range (a close-only source has none) and
    # symbol roles (a declaration may name a role alone) became optional declared them not null.
    con.execute(f"alter table {RAW_SCHEMA}.symbol_properties add column if not exists role varchar")
    required = con.execute(
        "select table_name, column_name from information_schema.columns "
        f"where table_schema = '{RAW_SCHEMA}' and is_nullable = 'NO' and (table_name, column_name) in "
        "(('daily_ohlcv', 'volume'), ('daily_ohlcv', 'open'), ('daily_ohlcv', 'high'), ('daily_ohlcv', 'low'), "
        "('symbol_properties', 'has_volume'))"
    ).fetchall()
    for table, column in required:
        con.execute(f"alter table {RAW_SCHEMA}.{table} alter column {column} drop not null")


_STAGE_ROWS = 250_000  # rows of a batch handed to DuckDB at a time


def connect(path: Path) -> duckdb.DuckDBPyConnection:
    """Open the warehouse for writing, creating the file and the raw schema if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(path))
    ensure_raw_schema(con)
    return con


RELEASABLE_RULES = ("return_spike", "stale_price", "volume_anomaly", "missing_session", "non_trading_day")


class ReleaseError(ValueError):
    """A release that cannot be recorded: unknown rule, no reason, or no such finding."""


def release_quarantine(
    warehouse: Path, symbol: str, day: date, rule: str, *, reason: str, released_by: str, now: datetime | None = None
) -> None:
    """Record that a reviewed finding may stand (e.g. a genuine crash, not a bad print; a session the
    calendar missed). The next `dbt build` recomputes every model from that date on and no longer counts
    the finding as a warning. Releasing twice updates the reason. Only a finding the last build made
    (marts.fct_price_quarantine) or an earlier release can be released.
    """
    if rule not in RELEASABLE_RULES:
        raise ReleaseError(f"rule must be one of {', '.join(RELEASABLE_RULES)}, got {rule!r}")
    if not reason.strip():
        raise ReleaseError("a release needs a reason")
    symbol = symbol.strip().upper()
    released_at = (now or datetime.now(UTC)).replace(tzinfo=None)
    con = connect(warehouse)
    try:
        if not table_exists(con, "marts", "fct_price_quarantine"):
            raise ReleaseError("no guardrail findings yet: run `featurecast build` first")
        flagged = one_row(
            con,
            "select count(*) from marts.fct_price_quarantine where symbol = ? and date = ? and rule = ?",
            [symbol, day, rule],
        )[0]
        released = one_row(
            con,
            f"select count(*) from {RAW_SCHEMA}.quarantine_releases where symbol = ? and date = ? and rule = ?",
            [symbol, day, rule],
        )[0]
        if not flagged and not released:
            others = [
                r
                for (r,) in con.execute(
                    "select rule from marts.fct_price_quarantine where symbol = ? and date = ? order by rule",
                    [symbol, day],
                ).fetchall()
            ]
            hint = f" (it has: {', '.join(others)})" if others else " (no rule flagged that bar)"
            raise ReleaseError(f"{symbol} {day} was never flagged by {rule}{hint}: nothing to release")
        con.execute("begin transaction")
        con.execute(
            f"delete from {RAW_SCHEMA}.quarantine_releases where symbol = ? and date = ? and rule = ?",
            [symbol, day, rule],
        )
        con.execute(
            f"insert into {RAW_SCHEMA}.quarantine_releases values (?, ?, ?, ?, ?, ?)",
            [symbol, day, rule, reason.strip(), released_by, released_at],
        )
        con.execute("commit")
    finally:
        con.close()


def declare_volume(
    warehouse: Path, symbols: list[str], has_volume: bool, *, declared_by: str, now: datetime | None = None
) -> None:
    """Declare whether each symbol's feed carries a traded volume (an index does not). Idempotent: the
    declaration time changes only when the declaration does, so re-importing rebuilds nothing."""
    _declare(warehouse, symbols, "has_volume", has_volume, declared_by=declared_by, now=now)


ROLES = ("tradable", "benchmark")


def declare_role(
    warehouse: Path, symbols: list[str], role: str, *, declared_by: str, now: datetime | None = None
) -> None:
    """Declare each symbol's role: `benchmark` (a market series: its features are kept and usable as market
    inputs, but it is never a training row, a signal, a holding or a trade) or `tradable`. Idempotent like
    declare_volume: the time changes only when the role does."""
    if role not in ROLES:
        raise InvalidValueError(f"role must be one of {', '.join(ROLES)}, got {role[:40]!r}")
    _declare(warehouse, symbols, "role", role, declared_by=declared_by, now=now)


def _declare(
    warehouse: Path, symbols: list[str], column: str, value: object, *, declared_by: str, now: datetime | None
) -> None:
    """Set one declared property (`has_volume` or `role`) of each symbol in raw.symbol_properties, in one
    transaction; a symbol whose property already has that value keeps its row (and declaration time)."""
    declared_at = (now or datetime.now(UTC)).replace(tzinfo=None)
    con = connect(warehouse)
    try:
        con.execute("begin transaction")
        for symbol in symbols:
            con.execute(
                f"""
                insert into {RAW_SCHEMA}.symbol_properties (symbol, {column}, declared_by, declared_at)
                values (?, ?, ?, ?)
                on conflict (symbol) do update set
                    {column} = excluded.{column},
                    declared_by = excluded.declared_by,
                    declared_at = excluded.declared_at
                where symbol_properties.{column} is distinct from excluded.{column}
                """,
                [symbol.upper(), value, declared_by, declared_at],
            )
        con.execute("commit")
    finally:
        con.close()


def land(
    warehouse: Path,
    frame: pd.DataFrame,
    *,
    source: str,
    parameters: dict[str, object] | None = None,
    now: datetime | None = None,
) -> LoadReport:
    """Validate `frame` and land it under `source` in one transaction. Raises IngestError on bad input."""
    if not source or not source.replace("_", "").isalnum():
        raise InvalidValueError(f"invalid source name {source[:40]!r}: letters, digits and underscores only")
    started = now or datetime.now(UTC)
    clean, collapsed = validate_ohlcv(frame, today=started)
    batch_id = uuid.uuid4().hex
    loaded_at = started.replace(tzinfo=None)
    con = connect(warehouse)
    try:
        con.execute("begin transaction")
        # Handed to DuckDB a chunk at a time and compared there, with the provenance columns added only as
        # rows are written: one scan of millions of pandas rows, and a classified copy of them, held the
        # batch three times over (3 M rows peaked at 2.1 GB).
        for start in range(0, len(clean), _STAGE_ROWS):
            con.register("chunk", clean.iloc[start : start + _STAGE_ROWS])
            if start == 0:
                con.execute("create temp table incoming as select * from chunk")
            else:
                con.execute("insert into incoming select * from chunk")
            con.unregister("chunk")
        same_key = "r.symbol = i.symbol and r.date = i.date and r.source = ?"
        # Classify every incoming row against what is already landed under the same key.
        differs = " or ".join(f"r.{c} is distinct from i.{c}" for c in _VALUE_COLUMNS)
        counts = dict(
            con.execute(
                f"""
                select case when r.symbol is null then 'insert' when {differs} then 'update' else 'unchanged' end,
                       count(*)
                from incoming i left join {RAW_SCHEMA}.daily_ohlcv r on {same_key}
                group by all
                """,
                [source],
            ).fetchall()
        )
        if counts.get("update"):
            con.execute(
                f"delete from {RAW_SCHEMA}.daily_ohlcv r using incoming i where {same_key} and ({differs})", [source]
            )
        # after the delete, the rows to write are exactly those with no landed row under their key
        columns = ", ".join([*CANONICAL_COLUMNS, "source", "batch_id", "loaded_at"])
        values = ", ".join(f"i.{c}" for c in CANONICAL_COLUMNS)
        con.execute(
            f"insert into {RAW_SCHEMA}.daily_ohlcv ({columns}) select {values}, ?, ?, ? from incoming i "
            f"where not exists (select 1 from {RAW_SCHEMA}.daily_ohlcv r where {same_key})",
            [source, batch_id, loaded_at, source],
        )
        symbols = sorted(clean["symbol"].unique().tolist())
        report = LoadReport(
            batch_id=batch_id,
            source=source,
            symbols=symbols,
            rows_received=len(frame),
            duplicates_collapsed=collapsed,
            rows_inserted=int(counts.get("insert", 0)),
            rows_updated=int(counts.get("update", 0)),
            rows_unchanged=int(counts.get("unchanged", 0)),
        )
        con.execute(
            f"insert into {RAW_SCHEMA}.load_batches values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                batch_id,
                source,
                symbols,
                clean["date"].min(),
                clean["date"].max(),
                len(frame),
                collapsed,
                report.rows_inserted,
                report.rows_updated,
                report.rows_unchanged,
                loaded_at,
                datetime.now(UTC).replace(tzinfo=None),
                json.dumps(parameters or {}, default=str),
            ],
        )
        con.execute("drop table incoming")
        con.execute("commit")
        return report
    except BaseException:
        # DuckDB may have ended the transaction itself (a full disk, an interrupt): a failing rollback must
        # not hide the error that caused it
        with contextlib.suppress(duckdb.Error):
            con.execute("rollback")
        raise
    finally:
        con.close()
