"""The same dbt project and the same daily flow on Apache Spark (the `spark` target: dbt-spark's session
method, local mode): every model, data test and unit test passes there, the marts equal DuckDB's, and the
Python side reads them through one reader and gets DuckDB's predictions.

One small market (12 symbols x 2.5 years, so the cross-sectional features have a universe; with gaps,
price spikes, volume spikes and stale runs, so the guardrails fire) is landed in DuckDB. The daily flow
then runs on Spark end to end, as `featurecast run --target spark` runs it (FEATURECAST_ENGINE=spark): its
three dbt builds on Spark, training, scoring, regimes, the backtest, forecasts and the serving snapshot,
each reading the marts from Spark. Only then is the project built on DuckDB, in the same warehouse, to
compare: marts row for row and column by column (exactly for keys, text, flags and dates, to 1e-9
relative for floating point, where the engines sum in different orders), the frames the Python side
reads, and the scores, forecasts and snapshot made from DuckDB's marts against those the Spark run made.
"""

from __future__ import annotations

from dataclasses import replace

import duckdb
import numpy as np
import pandas as pd
import pytest

from dbt_project.parity import ATOL, PARITY_MARTS, RTOL, differences, naive_timestamps, spark_table
from dbt_project.runner import build
from featurecast.config import Settings
from featurecast.marketdata.landing import land
from featurecast.marketdata.synthetic import SyntheticSpec, generate, inject_defects
from featurecast.marts import DuckDBMarts, SparkMarts
from tests.python.conftest import STATISTICAL_DEFECTS, make_settings, read_table

pytest.importorskip("pyspark", reason="the spark extra is not installed (pip install -e '.[spark]')")

pytestmark = [pytest.mark.dbt, pytest.mark.spark]

# What the Spark run wrote, read back before DuckDB builds anything: (table, key columns, ordering).
WRITTEN = {
    "ml.signals": ["symbol", "date"],
    "ml.forecasts": ["portfolio", "issue_date", "horizon", "model"],
    "ml.regime_history": ["date"],
}


@pytest.fixture(scope="module")
def spark_run(tmp_path_factory):
    from prefect.testing.utilities import prefect_test_harness

    from flows.daily_refresh import daily_refresh

    directory = tmp_path_factory.mktemp("spark")
    prices, _ = inject_defects(generate(SyntheticSpec(n_symbols=12, years=2.5, seed=3)).prices, STATISTICAL_DEFECTS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FEATURECAST_DATA_DIR", str(directory))
        patch.setenv("FEATURECAST_ENGINE", "spark")  # what `featurecast run --target spark` sets
        patch.setenv("FEATURECAST_REGIME_MIN_HISTORY", "252")  # 2.5 years: regimes after the first
        for name in ("FEATURECAST_WAREHOUSE", "MONGODB_URI", "FEATURECAST_MARKET_SERIES"):
            patch.delenv(name, raising=False)
        settings = Settings.from_env()
        land(settings.warehouse_path, prices, source="synthetic")
        with prefect_test_harness(server_startup_timeout=120):
            # Without a Prefect task run per dbt node (node_tasks: tests/python/test_flows.py covers them).
            summary = daily_refresh(source="none", node_tasks=False)
    marts_in_duckdb = DuckDBMarts(settings.warehouse_path).has("marts.fct_daily_features")
    written = {table: read_table(settings.warehouse_path, table, ", ".join(keys)) for table, keys in WRITTEN.items()}
    duckdb_build = build(replace(settings, engine="duckdb"), quiet=True)
    return settings, summary, duckdb_build, written, marts_in_duckdb


def test_the_daily_flow_runs_end_to_end_on_spark(spark_run) -> None:
    settings, summary, _, written, marts_in_duckdb = spark_run
    assert not marts_in_duckdb  # every mart the run read came from Spark
    assert not summary.notes  # nothing skipped: trained, scored, labelled, backtested, forecast, published
    assert summary.trained and summary.trained["decision"]["promoted"]
    assert summary.signals and summary.regime and summary.backtest and summary.forecasts
    assert "publish snapshot" in summary.stage_seconds
    assert all(len(frame) for frame in written.values())
    assert (settings.serving_dir / "CURRENT").exists()


def test_what_the_python_side_wrote_is_queryable_on_spark(spark_run) -> None:
    """Signals, forecasts and regime labels are written to the warehouse and, on Spark, copied to the
    lake and declared there: the same rows in Spark as in DuckDB."""
    settings, _, _, written, _ = spark_run
    for table, keys in WRITTEN.items():
        expected = written[table].drop(columns=["feature_values", "contributions"], errors="ignore")
        in_spark = spark_table(settings, table)[list(expected.columns)].sort_values(keys).reset_index(drop=True)
        assert len(in_spark) == len(expected) > 0, table
        assert differences(expected, in_spark) == [], table


def test_every_model_data_test_and_unit_test_passes_on_spark(spark_run) -> None:
    """The flow's three stages on Spark together ran the whole project: the same models, seeds, data
    tests and unit tests as one DuckDB build, each with the same outcome, and the same warnings."""
    _, summary, duckdb_build, _, _ = spark_run
    on_duckdb = {node.unique_id: node.status for node in duckdb_build.nodes}
    assert duckdb_build.success and {"success", "pass", "warn"} <= set(on_duckdb.values())
    assert {node.split(".")[0] for node in on_duckdb} >= {"model", "seed", "test", "unit_test"}
    assert summary.node_status == on_duckdb
    assert sorted(summary.warnings) == sorted(f"{n.name} ({n.failures})" for n in duckdb_build.warned)


@pytest.mark.parametrize("mart", list(PARITY_MARTS))
def test_spark_gives_duckdbs_numbers(spark_run, mart) -> None:
    settings = spark_run[0]
    keys = PARITY_MARTS[mart]
    expected = read_table(settings.warehouse_path, mart, ", ".join(keys))
    actual = spark_table(settings, mart)
    assert sorted(actual.columns) == sorted(expected.columns)
    assert len(actual) == len(expected) > 0
    actual = actual[list(expected.columns)].sort_values(keys).reset_index(drop=True)
    for column in expected.columns:
        left, right = expected[column], actual[column]
        if pd.api.types.is_float_dtype(left) or pd.api.types.is_float_dtype(right):
            np.testing.assert_allclose(
                right.astype(float),
                left.astype(float),
                rtol=RTOL,
                atol=ATOL,
                equal_nan=True,
                err_msg=f"{mart}.{column}",
            )
        elif pd.api.types.is_datetime64_any_dtype(left):
            assert (naive_timestamps(right) == left).all(), f"{mart}.{column}"
        else:
            pd.testing.assert_series_equal(
                right.astype(object).where(right.notna(), None),
                left.astype(object).where(left.notna(), None),
                check_names=False,
                obj=f"{mart}.{column}",
            )


def test_the_python_side_reads_the_same_frames_from_either_engine(spark_run) -> None:
    """Training set, scoring frame, market series and sessions agree; the feature spec and the bars'
    fingerprint are equal, so a model trained on either engine gets the same version."""
    from ml.regimes.refresh import market_features
    from ml.signals.dataset import (
        data_fingerprint,
        feature_columns,
        feature_spec_hash,
        scoring_frame,
        trading_sessions,
        training_frame,
    )

    settings = spark_run[0]
    spark, duck = SparkMarts(settings), DuckDBMarts(settings.warehouse_path)
    for read in (lambda m: training_frame(m, 5), lambda m: scoring_frame(m, 63), market_features):
        left, right = read(duck), read(spark)
        assert list(right.columns) == list(left.columns) and len(right) == len(left) > 0
        assert differences(left, right) == []
    assert (trading_sessions(spark) == trading_sessions(duck)).all()
    features = feature_columns(duck)
    assert feature_columns(spark) == features
    assert feature_spec_hash(spark, features) == feature_spec_hash(duck, features)
    last = training_frame(duck, 5)["label_end_date"].max()
    assert data_fingerprint(spark, last) == data_fingerprint(duck, last)


def test_scores_forecasts_and_snapshot_from_duckdbs_marts_equal_the_spark_runs(spark_run, tmp_path) -> None:
    """The Python steps, run again on DuckDB's marts, write what the Spark run wrote (to 1e-9)."""
    from flows.publish import publish_snapshot
    from ml.forecasts.issue import issue_forecasts
    from ml.signals.score import score_latest

    settings, _, _, written, _ = spark_run
    duck = DuckDBMarts(settings.warehouse_path)
    score_latest(settings.warehouse_path, horizon=settings.signal_horizon, last_dates=settings.score_dates, marts=duck)
    issue_forecasts(settings.warehouse_path, full=True, marts=duck)
    for table in ("ml.signals", "ml.forecasts"):
        again = read_table(settings.warehouse_path, table, ", ".join(WRITTEN[table]))
        assert len(again) == len(written[table]) > 0
        numbers = [c for c in again.columns if c not in ("scored_at", "issued_at", "feature_values", "contributions")]
        assert differences(written[table][numbers], again[numbers]) == [], table

    from_duckdb = publish_snapshot(settings.warehouse_path, tmp_path / "serving", marts=duck)
    from_spark = settings.serving_dir / (settings.serving_dir / "CURRENT").read_text().strip()
    tables = ["signals", "symbols", "quality", "features", "market_features", "portfolio_daily", "forecast_evaluation"]
    for table in tables:
        left, right = (_snapshot_table(path, table) for path in (from_duckdb, from_spark))
        assert len(left) == len(right) > 0, table
        assert differences(left, right) == [], table


def test_the_spark_reader_names_a_missing_mart_and_a_foreign_session(spark_run, tmp_path) -> None:
    """A mart Spark does not have is one line saying what to run; a reader for another data directory
    refuses the session this process already runs (it keeps another warehouse) instead of reading it."""
    from featurecast.errors import NotReadyError

    settings = spark_run[0]
    with pytest.raises(NotReadyError, match=r"no_such_mart.* is not on Spark yet: run `featurecast build --target"):
        SparkMarts(settings).frame("select * from marts.no_such_mart")
    with pytest.raises(NotReadyError, match="one data directory per process"):
        SparkMarts(make_settings(tmp_path)).frame("select 1")


def _snapshot_table(path, table: str) -> pd.DataFrame:
    con = duckdb.connect(str(path), read_only=True)
    try:
        frame = con.execute(f"select * from {table}").df()
    finally:
        con.close()
    # each table's grain: quality is one row per (rule, action) since a rule can record some findings and
    # exclude others (return_spike), so rule alone leaves its rows in no particular order
    keys = [
        c for c in ("portfolio", "symbol", "rule", "action", "date", "issue_date", "horizon", "model") if c in frame
    ]
    return (
        frame.drop(columns=["feature_values", "contributions"], errors="ignore")
        .sort_values(keys)
        .reset_index(drop=True)
    )


def test_the_spark_target_needs_ingested_data_and_says_so(tmp_path) -> None:
    """Nothing landed yet: the export names the missing warehouse (exit 4 in the CLI), writes no lake."""
    from featurecast.errors import NotReadyError
    from featurecast.lake import export_sources, lake_dir

    settings = make_settings(tmp_path)
    with pytest.raises(NotReadyError, match=r"no warehouse at .*: ingest data first"):
        export_sources(settings)
    assert not lake_dir(settings).exists()


def test_the_lake_holds_exactly_the_declared_sources_that_exist(tmp_path) -> None:
    """Every source() the project reads is exported when the warehouse has it; one it lacks (the Python
    side writes ml tables later) is not, and a stale copy of it is removed."""
    from featurecast.lake import declared_sources, export_sources, lake_dir

    settings = make_settings(tmp_path)
    land(settings.warehouse_path, generate(SyntheticSpec(n_symbols=2, years=0.2, seed=1)).prices, source="synthetic")
    stale = lake_dir(settings) / "ml" / "forecasts"
    stale.mkdir(parents=True)
    exported = export_sources(settings)
    assert "raw.daily_ohlcv" in exported and ("raw", "daily_ohlcv") in declared_sources()
    assert ("ml", "forecasts") in declared_sources() and "ml.forecasts" not in exported
    assert not stale.exists()
    files = sorted(p.relative_to(lake_dir(settings)).as_posix() for p in lake_dir(settings).rglob("*.parquet"))
    assert files == [f"{name.replace('.', '/')}/part-0.parquet" for name in sorted(exported)]
