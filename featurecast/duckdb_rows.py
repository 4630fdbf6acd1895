"""Small typed helpers over DuckDB queries that several modules share."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb


def one_row(con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None) -> tuple[Any, ...]:
    """The single row of a query that always returns one (an aggregate); a query that returns none is a
    bug, reported as such rather than as a TypeError on None."""
    row = con.execute(sql, params).fetchone() if params is not None else con.execute(sql).fetchone()
    if row is None:
        raise LookupError(f"expected one row from: {sql[:120]}")
    return row


def table_exists(con: duckdb.DuckDBPyConnection, schema: str, table: str) -> bool:
    """Whether `schema.table` exists in the connected database."""
    return bool(
        one_row(
            con,
            "select count(*) from information_schema.tables where table_schema = ? and table_name = ?",
            [schema, table],
        )[0]
    )
