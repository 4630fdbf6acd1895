"""The warehouse's dbt sources as parquet files: what another engine (Spark) reads.

Ingestion stays in DuckDB (validation, batches, the one writer). For the `spark` dbt target,
`export_sources` writes every table the dbt project declares as a source (raw market data and the
tables the Python side writes back) to `<data dir>/lake/<schema>/<table>/`, one parquet file per table,
replaced atomically; the `register_lake_tables` macro then declares them to Spark as external tables.
On a cluster the same layout lives in object storage and Spark reads it where it is.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from featurecast.config import PROJECT_ROOT, Settings
from featurecast.duckdb_rows import table_exists
from featurecast.errors import NotReadyError

SOURCE_FILES = sorted((PROJECT_ROOT / "models" / "staging").glob("*/_*__sources.yml"))


def declared_sources() -> list[tuple[str, str]]:
    """Every (schema, table) the dbt project reads with source(), from its sources YAML."""
    found = []
    for path in SOURCE_FILES:
        for source in yaml.safe_load(path.read_text())["sources"]:
            schema = source.get("schema", source["name"])
            found += [(schema, table["name"]) for table in source.get("tables", [])]
    return sorted(found)


def lake_dir(settings: Settings) -> Path:
    return settings.data_dir / "lake"


def export_sources(settings: Settings) -> list[str]:
    """Write each declared source table that exists in the warehouse to the lake; returns their
    `schema.table` names. A table the warehouse does not have yet (the Python side writes it later) is
    left out, and any old copy of it removed, so the other engine sees what DuckDB sees."""
    return export_tables(settings, [f"{schema}.{table}" for schema, table in declared_sources()])


def export_tables(settings: Settings, tables: list[str]) -> list[str]:
    """Write these warehouse tables (`schema.table`) to the lake, each replaced atomically; returns the
    ones the warehouse has. A table it lacks has any old copy removed."""
    import duckdb

    if not settings.warehouse_path.exists():
        raise NotReadyError(f"no warehouse at {settings.warehouse_path}: ingest data first (featurecast ingest)")
    root = lake_dir(settings)
    exported = []
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        for name in tables:
            schema, table = name.split(".")
            target = root / schema / table
            if not table_exists(con, schema, table):
                shutil.rmtree(target, ignore_errors=True)
                continue
            staging = target.with_name(f".{table}.writing")
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            con.execute(f'copy "{schema}"."{table}" to \'{staging / "part-0.parquet"}\' (format parquet)')
            shutil.rmtree(target, ignore_errors=True)
            staging.rename(target)
            exported.append(name)
    finally:
        con.close()
    return exported
