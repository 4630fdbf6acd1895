"""Fingerprints of what a build depends on: a change to any of them changes what a build must do.

- `build_fingerprint`: the project variables and the declared features; a change rebuilds the
  incremental models in full.
- `sql_fingerprint` (with `python_side_tables`): the project's SQL, seeds, configuration and the dbt and
  DuckDB versions; a change runs the unit and SQL tests again, reloads the seeds, recreates the views.
- `views_missing`: a view of the last parsed project is missing from the warehouse.
- `source_state`: the source tables' state (rows and newest load time, or a digest of their rows); a
  stage whose sources are as it last left them has nothing new to build (dbt_project/plan.py).
"""

from __future__ import annotations

import functools
from pathlib import Path

from dbt_project.invoke import dbt_vars
from dbt_project.project_files import read_yaml
from featurecast.config import PROJECT_ROOT, Settings
from featurecast.duckdb_rows import one_row


def build_fingerprint(settings: Settings) -> str:
    """What a warehouse's incremental models were built with: the project variables and the declared
    features (names and types, from dbt_project/feature_catalog.yml). A change means a full rebuild."""
    import json

    from dbt_project.feature_catalog import load_catalog

    features = [f"{d.mart}.{d.name}:{d.data_type}" for d in load_catalog()]
    return json.dumps({"vars": json.loads(dbt_vars(settings)), "features": features})


# What dbt's unit tests and the SQL tests (selectors.yml, `sql_tests`) test: the SQL, the macros, the
# project files and the engine; with the seeds. A build reloads seeds and recreates the project views
# only when it changes. Raw bars are not in it: those tests run on their own fixtures.
SQL_SOURCES = ("models", "macros", "tests/generic", "tests/singular", "tests/macros", "seeds")
SQL_FILES = ("dbt_project.yml", "selectors.yml", "profiles.yml")
SQL_SUFFIXES = {".sql", ".yml", ".yaml", ".csv"}


# The source of the tables the Python side writes (forecasts, regimes, the backtest's book): the stg_ml__
# views select from them once they exist, and are empty until then (macros/source_or_empty.sql).
PYTHON_SIDE_SCHEMA = "ml"
PYTHON_SIDE_SOURCES = Path("models") / "staging" / "ml" / "_ml__sources.yml"


def sql_fingerprint() -> str:
    """A digest of the project's SQL, seeds and configuration and the dbt and DuckDB versions: unit
    tests and SQL tests need to run again, and seeds to be reloaded, only when it changes. The files are
    read again only when one of their paths, sizes or modification times differs from the last call's
    (a night plans several stages in one process)."""
    files = [PROJECT_ROOT / name for name in SQL_FILES]
    for folder in SQL_SOURCES:
        files += sorted(p for p in (PROJECT_ROOT / folder).rglob("*") if p.suffix in SQL_SUFFIXES)
    states = tuple((path, path.stat().st_mtime_ns, path.stat().st_size) for path in files)
    return _digest(states)


@functools.lru_cache(maxsize=4)  # explicit cache: keyed by every file's path, modification time and size
def _digest(states: tuple[tuple[Path, int, int], ...]) -> str:
    import hashlib

    import dbt.version
    import duckdb

    digest = hashlib.sha256(f"dbt {dbt.version.__version__} duckdb {duckdb.__version__}".encode())
    for path, _, _ in states:
        digest.update(path.relative_to(PROJECT_ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def python_side_tables(settings: Settings) -> list[str]:
    """Which of the Python side's source tables (PYTHON_SIDE_SOURCES) exist in the DuckDB warehouse,
    sorted. The stg_ml__ views' SQL depends on them, so a change recreates the views (with the SQL
    tests). No warehouse, or one that cannot be read, has none."""
    import duckdb

    declared = read_yaml(PROJECT_ROOT / PYTHON_SIDE_SOURCES)["sources"]
    names = [t["name"] for source in declared if source["name"] == PYTHON_SIDE_SCHEMA for t in source["tables"]]
    if not settings.warehouse_path.exists():
        return []
    try:
        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    except duckdb.Error:
        return []
    try:
        rows = con.execute(
            "select table_name from duckdb_tables() where schema_name = ? and list_contains(?, table_name) "
            "order by table_name",
            [PYTHON_SIDE_SCHEMA, names],
        ).fetchall()
    finally:
        con.close()
    return [name for (name,) in rows]


def views_missing(settings: Settings, manifest: Path) -> bool:
    """Whether a view model of the project as last parsed (`manifest`) is missing from the DuckDB
    warehouse: dropped by hand, or a restored backup. A build then recreates the views instead of
    keeping them. No manifest, or a warehouse that cannot be read, counts as missing."""
    import json

    import duckdb

    try:
        nodes = json.loads(manifest.read_text())["nodes"].values()
        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    except (OSError, ValueError, KeyError, duckdb.Error):
        return True
    try:
        listed = con.execute("select schema_name, view_name from duckdb_views() where not internal").fetchall()
    finally:
        con.close()
    views = {
        (str(node["schema"]).lower(), str(node["alias"]).lower())
        for node in nodes
        if node.get("resource_type") == "model" and node.get("config", {}).get("materialized") == "view"
    }
    return not views <= {(schema.lower(), name.lower()) for schema, name in listed}


def declared_sources() -> dict[str, tuple[str, str, str | None]]:
    """Every source table the project declares: `source.table` -> (schema, table, loaded_at_field or None)."""
    found: dict[str, tuple[str, str, str | None]] = {}
    for path in sorted((PROJECT_ROOT / "models" / "staging").rglob("_*__sources.yml")):
        for source in read_yaml(path)["sources"]:
            for table in source.get("tables", []):
                field = table.get("loaded_at_field", source.get("loaded_at_field"))
                name = table.get("identifier", table["name"])
                found[f"{source['name']}.{table['name']}"] = (source.get("schema", source["name"]), name, field)
    return found


def source_state(warehouse: Path, sources: list[str]) -> dict[str, str]:
    """Each named source table's state: its row count and newest load time where the table has a
    `loaded_at_field` (raw bars: a correction rewrites `loaded_at`), else its row count and an
    order-independent digest of its rows (the Python side's tables are small). `missing` for a table
    that does not exist yet; {} when the warehouse cannot be read (every stage then runs)."""
    import duckdb

    declared = declared_sources()
    if not warehouse.exists():
        return {}
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error:
        return {}
    state: dict[str, str] = {}
    try:
        for name in sources:
            schema, table, field = declared[name]
            measure = f'max(cast("{field}" as varchar))' if field else "cast(bit_xor(hash(t)) as varchar)"
            try:
                query = f'select count(*), {measure} from "{schema}"."{table}" as t'
                rows, newest = one_row(con, query)
            except duckdb.CatalogException:
                state[name] = "missing"
                continue
            state[name] = f"{rows} rows, {'newest load ' if field else 'digest '}{newest}"
    finally:
        con.close()
    return state
