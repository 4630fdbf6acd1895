"""Reading what dbt built, as Arrow tables, from whichever engine built it: one reader for the Python side.

Training, scoring, regimes, forecasts, the backtest and the serving snapshot read the marts through
`mart_reader(settings)` (or a `MartReader` handed to them), never through a connection of their own:

- `DuckDBMarts`: a read-only connection to the warehouse file per query (dbt's `dev` target).
- `SparkMarts`: the Spark session of this process (dbt's `spark` target). dbt-spark's session method
  starts it on the first Spark build; a reader that comes first starts it with the same settings, read from
  profiles.yml, so both see the same warehouse directory and metastore. The queries are written in DuckDB's
  SQL and transpiled to Spark's by sqlglot; parameters (`?`) are bound by Spark, never pasted in.

Either way `arrow()` returns a `pyarrow.Table` and `frame()` a pandas frame converted by DuckDB, so the two
engines hand the Python side the same types (dates and timestamps without a time zone, as in the marts).

What featurecast itself writes (bars, the model registry, predictions, regimes, forecasts, backtests) is
written to the DuckDB warehouse on either engine, by the writer that owns each table (transactional and
idempotent). On Spark, `write_back` then copies what a step wrote to the lake and declares it to Spark,
so the predictions are queryable there at once; every Spark build refreshes the lake copies of the
sources it reads as well (featurecast/lake.py).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

import duckdb
import pandas as pd
import pyarrow as pa

from featurecast.config import Settings
from featurecast.errors import NotReadyError

ENGINES = ("duckdb", "spark")


class MartReader(Protocol):
    """What the Python side reads the marts with."""

    engine: str

    def arrow(self, sql: str, params: Sequence[object] = ()) -> pa.Table:
        """The result of one query (DuckDB's SQL, `?` parameters) as an Arrow table."""
        ...

    def frame(self, sql: str, params: Sequence[object] = ()) -> pd.DataFrame:
        """The same as a pandas frame, with the types DuckDB gives (naive dates and timestamps)."""
        ...

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        """The same as plain tuples (for a few summary rows)."""
        ...

    def columns(self, relation: str) -> list[tuple[str, str, str]]:
        """(name, type, description) of each column of `schema.table`, in table order."""
        ...

    def has(self, relation: str) -> bool:
        """Whether `schema.table` exists."""
        ...


def _split(relation: str) -> tuple[str, str]:
    schema, _, table = relation.partition(".")
    if not schema or not table or not all(part.replace("_", "").isalnum() for part in (schema, table)):
        raise ValueError(f"a relation is schema.table (letters, digits, underscores), got {relation!r}")
    return schema, table


class DuckDBMarts:
    """The marts of the DuckDB warehouse (read-only; one short connection per query)."""

    engine = "duckdb"

    def __init__(self, warehouse: Path) -> None:
        self.warehouse = Path(warehouse)

    def _connect(self) -> duckdb.DuckDBPyConnection:
        if not self.warehouse.exists():
            raise NotReadyError(f"no warehouse at {self.warehouse}: run `featurecast build` first")
        return duckdb.connect(str(self.warehouse), read_only=True)

    def arrow(self, sql: str, params: Sequence[object] = ()) -> pa.Table:
        with self._connect() as con:
            return con.execute(sql, list(params)).to_arrow_table()

    def frame(self, sql: str, params: Sequence[object] = ()) -> pd.DataFrame:
        with self._connect() as con:
            return con.execute(sql, list(params)).df()

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        with self._connect() as con:
            return con.execute(sql, list(params)).fetchall()

    def columns(self, relation: str) -> list[tuple[str, str, str]]:
        schema, table = _split(relation)
        with self._connect() as con:
            return con.execute(
                "select column_name, data_type, coalesce(comment, '') from duckdb_columns() "
                "where schema_name = ? and table_name = ? order by column_index",
                [schema, table],
            ).fetchall()

    def has(self, relation: str) -> bool:
        schema, table = _split(relation)
        with self._connect() as con:
            found = con.execute(
                "select count(*) from duckdb_tables() where schema_name = ? and table_name = ?", [schema, table]
            ).fetchone()
        return bool(found and found[0])


def to_naive_arrow(table: pa.Table) -> pa.Table:
    """Time-zone-aware timestamps (Spark hands them over in its session time zone, UTC) as naive UTC, the
    way the marts define them (DuckDB's TIMESTAMP)."""
    fields = [
        pa.field(f.name, pa.timestamp(f.type.unit), f.nullable) if pa.types.is_timestamp(f.type) and f.type.tz else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


def to_frame(table: pa.Table) -> pd.DataFrame:
    """An Arrow table as pandas the way DuckDB converts it (the types the DuckDB reader gives)."""
    with duckdb.connect() as con:
        return con.from_arrow(to_naive_arrow(table)).df()


def _spark_value(value: object) -> object:
    """A parameter as Spark binds it: numpy and pandas scalars become plain Python values."""
    if isinstance(value, pd.Timestamp):
        return value.to_pydatetime() if (value.hour, value.minute, value.second) != (0, 0, 0) else value.date()
    item = getattr(value, "item", None)
    return item() if callable(item) and not isinstance(value, (str, bytes, dt.date)) else value


class SparkMarts:
    """The marts of the Spark session this process runs (dbt's `spark` target)."""

    engine = "spark"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._translated: dict[str, str] = {}

    def session(self) -> Any:
        return spark_session(self.settings)

    def _spark_sql(self, sql: str) -> str:
        if sql not in self._translated:
            import sqlglot

            self._translated[sql] = sqlglot.transpile(sql, read="duckdb", write="spark")[0]
        return self._translated[sql]

    def arrow(self, sql: str, params: Sequence[object] = ()) -> pa.Table:
        from pyspark.errors import AnalysisException

        args = [_spark_value(p) for p in params]
        try:
            return self.session().sql(self._spark_sql(sql), args=args or None).toArrow()
        except AnalysisException as exc:
            if exc.getCondition() in ("TABLE_OR_VIEW_NOT_FOUND", "SCHEMA_NOT_FOUND"):
                missing = (exc.getMessageParameters() or {}).get("relationName", "a mart")
                raise NotReadyError(
                    f"{missing} is not on Spark yet: run `featurecast build --target spark` first"
                ) from None
            raise

    def frame(self, sql: str, params: Sequence[object] = ()) -> pd.DataFrame:
        return to_frame(self.arrow(sql, params))

    def rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        return [tuple(row.values()) for row in to_naive_arrow(self.arrow(sql, params)).to_pylist()]

    def columns(self, relation: str) -> list[tuple[str, str, str]]:
        """Spark keeps no column comments on parquet tables, so a column's description is the one dbt's
        manifest of the last Spark build documents (the text DuckDB stores as the column's comment)."""
        schema, table = _split(relation)
        rows = self.session().sql(f"describe table `{schema}`.`{table}`").collect()
        documented = self._documented(schema, table)
        out = []
        for row in rows:
            if not row.col_name or row.col_name.startswith("#"):
                break  # partition information follows the columns
            description = row.comment or documented.get(row.col_name, "")
            out.append((row.col_name, _duckdb_type(row.data_type), description))
        return out

    def _documented(self, schema: str, table: str) -> dict[str, str]:
        import json

        manifest = self.settings.data_dir / "dbt_target_spark" / "manifest.json"
        if not manifest.exists():
            return {}
        for node in json.loads(manifest.read_text()).get("nodes", {}).values():
            if node.get("schema") == schema and (node.get("alias") or node.get("name")) == table:
                return {name: column.get("description") or "" for name, column in node.get("columns", {}).items()}
        return {}

    def has(self, relation: str) -> bool:
        schema, table = _split(relation)
        return bool(self.session().catalog.tableExists(f"{schema}.{table}"))

    def declare(self, lake: Path, relations: Sequence[str]) -> None:
        """Declare lake tables (`<lake>/<schema>/<table>/`) to Spark as external parquet tables, replacing
        any earlier declaration (as the register_lake_tables macro does for the sources)."""
        spark = self.session()
        for relation in relations:
            schema, table = _split(relation)
            location = str(lake / schema / table).replace("'", "")
            spark.sql(f"create database if not exists `{schema}`")
            spark.sql(f"drop table if exists `{schema}`.`{table}`")
            spark.sql(f"create table `{schema}`.`{table}` using parquet location '{location}'")


def _duckdb_type(spark_type: str) -> str:
    """A Spark column type in DuckDB's spelling (double -> DOUBLE, string -> VARCHAR)."""
    import sqlglot
    from sqlglot import exp

    try:
        built = exp.DataType.build(spark_type, dialect="spark").sql(dialect="duckdb")
    except sqlglot.errors.ParseError:
        return spark_type.upper()
    # Spark's TIMESTAMP is what the marts' contracts call timestamp (DuckDB's TIMESTAMP).
    return {"TEXT": "VARCHAR", "INT": "INTEGER", "TIMESTAMPTZ": "TIMESTAMP"}.get(built, built)


def _render_profile_parameters(settings: Settings) -> dict[str, str]:
    """The Spark settings of profiles.yml's `spark` output, rendered as dbt renders them."""
    import jinja2
    import yaml

    from dbt_project.invoke import PROFILES_DIR, dbt_env

    env = {**os.environ, **dbt_env(settings)}
    profile = yaml.safe_load((PROFILES_DIR / "profiles.yml").read_text())["featurecast"]["outputs"]["spark"]

    def env_var(name: str, default: str | None = None) -> str:
        value = env.get(name, default)
        if value is None:
            raise NotReadyError(f"profiles.yml needs the environment variable {name}")
        return value

    return {
        key: jinja2.Template(str(value)).render(env_var=env_var)
        for key, value in (profile.get("server_side_parameters") or {}).items()
    }


def spark_session(settings: Settings) -> Any:
    """This process's Spark session: the one dbt-spark started, or a new one with profiles.yml's settings."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise NotReadyError("the spark engine needs pyspark: pip install -e '.[spark]'") from None
    parameters = _render_profile_parameters(settings)
    running = SparkSession.getActiveSession()
    if running is None:
        builder = SparkSession.builder.enableHiveSupport()
        for key, value in parameters.items():
            builder = builder.config(key, value)
        running = builder.getOrCreate()
    # One Spark session per process: it must be this data directory's, never another's.
    wanted = parameters.get("spark.sql.warehouse.dir")
    found = running.conf.get("spark.sql.warehouse.dir", None)
    if wanted and found and Path(found.removeprefix("file:")).resolve() != Path(wanted).resolve():
        raise NotReadyError(
            f"this process's Spark session keeps its tables in {found}, not {wanted}: one data directory "
            "per process on the spark engine"
        )
    return running


# What each Python step writes to the warehouse, by step: on Spark the same rows go to the lake too.
WRITTEN_BY = {
    "train": ("ml.oof_predictions",),
    "score": ("ml.signals",),
    "regimes": ("ml.regime_history", "ml.regime_models", "ml.regime_in_sample"),
    "backtest": (
        "ml.backtest_runs",
        "ml.backtest_daily",
        "ml.backtest_trades",
        "ml.backtest_metrics",
        "ml.portfolio_books",
    ),
    "forecasts": ("ml.forecasts",),
}


def write_back(settings: Settings, step: str) -> list[str]:
    """After a Python step has written its tables to the warehouse (the system of record, on either
    engine): on Spark, copy them to the lake and declare them there, so Spark queries see the new
    predictions at once. Returns the tables copied (none on DuckDB, where the warehouse is the engine)."""
    if settings.engine != "spark":
        return []
    from featurecast.lake import export_tables, lake_dir

    written = export_tables(settings, list(WRITTEN_BY[step]))
    SparkMarts(settings).declare(lake_dir(settings), written)
    return written


def mart_reader(settings: Settings) -> MartReader:
    """The reader for the engine the configuration names (FEATURECAST_ENGINE)."""
    if settings.engine == "spark":
        return SparkMarts(settings)
    return DuckDBMarts(settings.warehouse_path)


def reader_for(marts: MartReader | Path) -> MartReader:
    """A reader as given, or the DuckDB warehouse at a path (what the functions that take a path mean)."""
    return DuckDBMarts(marts) if isinstance(marts, Path) else marts


__all__ = [
    "ENGINES",
    "DuckDBMarts",
    "MartReader",
    "SparkMarts",
    "mart_reader",
    "reader_for",
    "spark_session",
    "to_frame",
    "to_naive_arrow",
    "write_back",
]
