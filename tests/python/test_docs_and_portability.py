"""Documentation and portability: generated docs match the models, descriptions reach DuckDB,
contracts hold, and every compiled model transpiles to Spark and Trino."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
import sqlglot
import yaml
from sqlglot import exp
from sqlglot.errors import ErrorLevel

from dbt_project.feature_spec import build_specs, render
from dbt_project.invoke import run_dbt
from featurecast.config import PROJECT_ROOT
from tests.python.conftest import make_settings

pytestmark = pytest.mark.dbt


@pytest.fixture(scope="module")
def manifest_path(tmp_path_factory) -> Path:
    settings = make_settings(tmp_path_factory.mktemp("compile"))
    target = settings.data_dir / "target"
    run_dbt(["compile", "--full-refresh"], settings, target_path=target, quiet=True)
    return target / "manifest.json"


@pytest.fixture(scope="module")
def specs(manifest_path):
    return build_specs(manifest_path)


def models(manifest_path: Path) -> list[dict]:
    nodes = json.loads(manifest_path.read_text())["nodes"].values()
    return sorted((n for n in nodes if n["resource_type"] == "model"), key=lambda n: n["name"])


def unportable(tree: exp.Expression) -> list[str]:
    """Constructs sqlglot writes and parses back in any dialect although Spark and Trino reject them."""
    found = []
    for star in tree.find_all(exp.Star):
        for arg in ("except", "replace", "rename"):
            if star.args.get(arg) or star.args.get(f"{arg}_"):  # sqlglot names some args with a trailing _
                found.append(f"* {arg.upper()} (DuckDB's * exclude / replace / rename)")
    return found


@pytest.mark.parametrize("dialect", ["spark", "trino"])
def test_every_compiled_model_transpiles_and_parses_back(manifest_path, dialect) -> None:
    """Every compiled model transpiles from DuckDB with nothing unsupported, the result parses back in the
    target dialect, and it uses none of the constructs sqlglot lets through but the engines reject."""
    failures = []
    compiled = models(manifest_path)
    assert len(compiled) >= 15
    for node in compiled:
        try:
            for statement in sqlglot.transpile(
                node["compiled_code"], read="duckdb", write=dialect, unsupported_level=ErrorLevel.RAISE
            ):
                failures += [f"{node['name']}: {c}" for c in unportable(sqlglot.parse_one(statement, read=dialect))]
        except (sqlglot.errors.ParseError, sqlglot.errors.UnsupportedError) as exc:
            failures.append(f"{node['name']}: {str(exc)[:200]}")
    assert not failures, "\n".join(failures)


def test_the_gate_rejects_star_exclude() -> None:
    """The check above is not vacuous: DuckDB's `* exclude` is what it exists to catch."""
    spark = sqlglot.transpile("select t.* exclude (x), 1 as y from t", read="duckdb", write="spark")[0]
    assert unportable(sqlglot.parse_one(spark, read="spark"))
    assert not unportable(sqlglot.parse_one("select t.a, t.b from t", read="spark"))


def test_feature_spec_in_docs_is_up_to_date(specs) -> None:
    committed = (PROJECT_ROOT / "docs" / "feature_spec.md").read_text()
    assert committed == render(specs), "docs/feature_spec.md is stale: run `featurecast docs`"


def test_every_feature_is_documented_and_traced_to_raw_columns(specs) -> None:
    daily = [s for s in specs if s.mart == "fct_daily_features"]
    assert len(daily) >= 40
    for spec in specs:
        assert spec.description and spec.data_type, spec.name
        assert spec.derives_from or spec.uses_calendar, f"{spec.name} traces to no raw column"
        if spec.mart != "fct_daily_labels":
            assert spec.lookback_rows and spec.lookback_rows >= 1, spec.name
    by_name = {s.name: s for s in specs}
    assert "volume" in by_name["volume_z_21d"].derives_from
    assert "close" not in by_name["volume_z_21d"].derives_from
    assert {"high", "low"} <= set(by_name["parkinson_vol_21d"].derives_from)
    assert by_name["rsi_14"].uses_calendar  # Wilder EMA decays per exchange session
    families = {s.family for s in daily}
    assert {
        "returns",
        "volatility",
        "range",
        "moving_average",
        "oscillator",
        "drawdown",
        "volume",
        "price_volume",
        "market_relative",
        "cross_sectional",
    } <= families


def test_every_documented_lookback_fits_in_the_incremental_read(specs) -> None:
    """An incremental refresh re-reads `feature_lookback_rows` rows per symbol; a feature that looks
    further back would be computed from a truncated history and differ from a full rebuild."""
    project = yaml.safe_load((PROJECT_ROOT / "dbt_project.yml").read_text())
    read_rows = project["vars"]["feature_lookback_rows"]
    too_long = [f"{s.name} ({s.lookback_rows})" for s in specs if (s.lookback_rows or 0) > read_rows]
    assert not too_long, f"lookback beyond feature_lookback_rows={read_rows}: {too_long}"


def test_descriptions_are_visible_to_analysts_in_duckdb(clean_warehouse) -> None:
    con = duckdb.connect(str(clean_warehouse.path), read_only=True)
    try:
        missing = con.execute("""
            select table_name, column_name from duckdb_columns()
            where schema_name = 'marts' and (comment is null or comment = '')
        """).fetchall()
        tables = con.execute("""
            select table_name from duckdb_tables() where schema_name = 'marts' and (comment is null or comment = '')
        """).fetchall()
    finally:
        con.close()
    assert missing == [] and tables == []


def test_mart_contracts_are_enforced(clean_warehouse, tmp_path) -> None:
    import shutil

    copy = tmp_path / "w.duckdb"
    shutil.copy(clean_warehouse.path, copy)
    con = duckdb.connect(str(copy))
    try:
        with pytest.raises(duckdb.ConstraintException):
            con.execute("insert into marts.fct_daily_features (symbol, date) values (null, date '2024-01-02')")
        with pytest.raises(duckdb.ConstraintException):
            con.execute(
                "insert into marts.dim_trading_calendar (date) select min(date) from marts.dim_trading_calendar"
            )
    finally:
        con.close()


def test_one_version_number_and_no_generic_top_level_package(tmp_path) -> None:
    """pyproject.toml, dbt_project.yml and the API agree on the version, and the installed import names
    are the project's own (the app lives in featurecast.api, not a top-level `app`)."""
    import tomllib

    from featurecast.api.main import create_app

    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())
    dbt = yaml.safe_load((PROJECT_ROOT / "dbt_project.yml").read_text())
    assert dbt["version"] == project["project"]["version"] == create_app(make_settings(tmp_path)).version
    packages = project["tool"]["setuptools"]["packages"]["find"]["include"]
    assert packages == ["featurecast*", "dbt_project*", "ml*", "flows*"]
    assert not (PROJECT_ROOT / "app").exists()
