"""dbt as its users type it: at the repository root, no flags, against the warehouse featurecast uses;
stages as named selectors; the serving side declared as exposures."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dbt_project.fingerprints import PYTHON_SIDE_SCHEMA
from featurecast.config import PROJECT_ROOT
from featurecast.features import MARKET_MART, SYMBOL_MART

pytestmark = pytest.mark.dbt
DBT = str(Path(sys.executable).parent / "dbt")


def plain_dbt(*args: str, data_dir: Path, scratch: Path) -> subprocess.CompletedProcess:
    """`dbt <args>` in the repository root as a user runs it: no --profiles-dir, no --project-dir, no
    DBT_PROFILES_DIR. Only where featurecast keeps its data is configured (FEATURECAST_DATA_DIR, as for
    every featurecast command); dbt's artifacts go to a scratch folder so the checkout stays clean."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBT_", "FEATURECAST_"))}
    env |= {"FEATURECAST_DATA_DIR": str(data_dir), "DBT_TARGET_PATH": str(scratch / "target")}
    env |= {"DBT_LOG_PATH": str(scratch / "logs"), "DO_NOT_TRACK": "1"}
    return subprocess.run([DBT, *args], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False)


@pytest.fixture(scope="module")
def scratch(tmp_path_factory, clean_warehouse) -> Path:
    """One data folder (a copy of a built warehouse) and one dbt target folder for the module: the same
    profile each time, so dbt's partial parse is reused between invocations."""
    scratch = tmp_path_factory.mktemp("plain_dbt")
    (scratch / "data").mkdir()
    shutil.copy(clean_warehouse.path, scratch / "data" / "warehouse.duckdb")
    return scratch


def test_dbt_build_test_freshness_and_docs_work_at_the_root(scratch) -> None:
    data = scratch / "data"
    with duckdb.connect(str(data / "warehouse.duckdb")) as con:
        con.execute("drop table marts.dim_symbols")

    build = plain_dbt("build", "--select", "dim_symbols", data_dir=data, scratch=scratch)
    assert build.returncode == 0, build.stdout[-2000:]
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:  # the same warehouse, rebuilt
        assert con.execute("select count(*) from marts.dim_symbols").fetchone()[0] == 10

    tested = plain_dbt("test", "--select", "stg_market__daily_ohlcv", data_dir=data, scratch=scratch)
    assert tested.returncode == 0 and "PASS=" in tested.stdout, tested.stdout[-2000:]

    fresh = plain_dbt("source", "freshness", data_dir=data, scratch=scratch)
    assert fresh.returncode == 0, fresh.stdout[-2000:]
    assert "PASS freshness of market.daily_ohlcv" in fresh.stdout
    assert "PASS freshness of market.load_batches" in fresh.stdout

    docs = plain_dbt("docs", "generate", data_dir=data, scratch=scratch)
    assert docs.returncode == 0, docs.stdout[-2000:]
    catalog = json.loads((scratch / "target" / "catalog.json").read_text())
    assert "model.featurecast.fct_daily_features" in catalog["nodes"]


def test_stages_are_named_selectors_and_partition_the_project(scratch) -> None:
    """features + evaluation cover every buildable node once; portfolio_books sits inside features."""
    data = scratch / "data"

    def listed(*args: str) -> set[str]:
        done = plain_dbt(
            "ls", "--resource-types", "model", "test", "seed", "unit_test", "-q", *args, data_dir=data, scratch=scratch
        )
        assert done.returncode == 0, done.stdout[-2000:]
        return set(done.stdout.split())

    everything = listed()
    features, evaluation = listed("--selector", "features"), listed("--selector", "evaluation")
    books = listed("--selector", "portfolio_books")
    assert features | evaluation == everything and not features & evaluation
    assert "featurecast.marts.forecasting.fct_forecast_evaluation" in evaluation
    assert "featurecast.marts.features.fct_daily_features" in features
    assert books and books <= features and "featurecast.marts.portfolio.fct_portfolio_daily" in books
    # What a build with unchanged project files (and Python-side tables) leaves out (dbt_project/runner.py):
    # the SQL tests (the macro fixture tests) and the views, and nothing else, in every stage.
    sql_tests, views = listed("--selector", "sql_tests"), listed("--selector", "project_views")
    fixtures = {f"featurecast.macros.{p.stem}" for p in (PROJECT_ROOT / "tests" / "macros").glob("*.sql")}
    assert sql_tests == fixtures and sql_tests <= features
    assert {"featurecast.staging.market.stg_market__daily_ohlcv", "featurecast.staging.ml.stg_ml__forecasts"} <= views
    assert listed("--selector", "features_nightly") == features - sql_tests - views
    assert any(test.endswith(".guardrail_ohlc_consistency") for test in features - views)  # a test on a view
    assert listed("--selector", "all_nightly") == everything - sql_tests - views
    assert listed("--selector", "evaluation_nightly") == evaluation - views
    assert listed("--selector", "portfolio_books_nightly") == books - views
    # A view is kept from one build to the next, so its SQL may depend on the warehouse's state when it is
    # compiled only through what decides when it is recreated: which Python-side tables exist
    # (source_or_empty on that schema). No queries, no dates.
    paths = plain_dbt("ls", "--selector", "project_views", "--output", "path", "-q", data_dir=data, scratch=scratch)
    assert paths.returncode == 0, paths.stdout[-2000:]
    for path in paths.stdout.split():
        sql = (PROJECT_ROOT / path).read_text()
        stateful = [m for m in ("run_query", "date_literal", "is_incremental") if m in sql]
        assert not stateful, f"{path} is a view but calls {stateful}"
        schemas = set(re.findall(r"source_or_empty\(\s*'(\w+)'", sql))
        assert schemas <= {PYTHON_SIDE_SCHEMA}, f"{path} reads {schemas} when it compiles"


def test_every_mart_the_snapshot_reads_is_declared_by_the_exposure(scratch) -> None:
    done = plain_dbt("parse", data_dir=scratch / "data", scratch=scratch)
    assert done.returncode == 0, done.stdout[-2000:]
    manifest = json.loads((scratch / "target" / "manifest.json").read_text())
    exposures = {e["name"]: e for e in manifest["exposures"].values()}
    assert {"serving_snapshot", "featurecast_api", "dashboard"} <= set(exposures)
    declared = {n.split(".")[-1] for n in exposures["serving_snapshot"]["depends_on"]["nodes"]}
    source = (PROJECT_ROOT / "flows" / "publish.py").read_text()
    read = set(re.findall(r"wh\.marts\.(\w+)", source)) | {SYMBOL_MART.split(".")[1], MARKET_MART.split(".")[1]}
    assert read <= declared, f"declare {sorted(read - declared)} in models/_exposures.yml"


@pytest.mark.parametrize(
    ("bars_days_ago", "batch_days_ago", "expected"),
    [(0.5, 0.5, ("pass", "pass")), (4, 2, ("warn", "pass")), (12, 5, ("error", "warn"))],
)
def test_the_flows_freshness_judges_each_source_as_dbt_source_freshness_does(
    tmp_path, clean_warehouse, bars_days_ago, batch_days_ago, expected
) -> None:
    """The flow judges freshness without starting dbt (dbt_project/freshness.py), by the limits the sources
    YAML declares (warn after 3 days, error after 10): on one warehouse, aged by hand, it gives dbt's
    verdict for every source dbt checks."""
    from datetime import UTC, datetime, timedelta

    from dbt_project.freshness import source_freshness

    data = tmp_path / "data"
    data.mkdir()
    warehouse = data / "warehouse.duckdb"
    shutil.copy(clean_warehouse.path, warehouse)
    now = datetime.now(UTC).replace(tzinfo=None)
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update raw.daily_ohlcv set loaded_at = ?", [now - timedelta(days=bars_days_ago)])
        con.execute("update raw.load_batches set finished_at = ?", [now - timedelta(days=batch_days_ago)])

    ours = {f.source: f.status for f in source_freshness(warehouse)}
    assert (ours["market.daily_ohlcv"], ours["market.load_batches"]) == expected
    assert set(ours) == {"market.daily_ohlcv", "market.load_batches"}  # symbol_properties: freshness null

    scratch = tmp_path / "dbt"
    scratch.mkdir()
    dbt = plain_dbt("source", "freshness", data_dir=data, scratch=scratch)
    theirs = {
        m.group(2): m.group(1).lower()
        for m in re.finditer(r"(PASS|WARN|ERROR STALE|ERROR) freshness of (\S+)", dbt.stdout)
    }
    theirs = {source: "error" if status.startswith("error") else status for source, status in theirs.items()}
    assert theirs == ours, dbt.stdout[-2000:]
