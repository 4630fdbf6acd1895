"""The same dbt project on Apache Spark (the `spark` target: dbt-spark's session method, local mode)
builds every model, passes every data test and unit test, and gives DuckDB's numbers.

One small market (12 symbols x 2 years, so the cross-sectional features have a universe; with gaps,
price spikes, volume spikes and stale runs, so the guardrails fire) is landed in DuckDB and built there;
its sources are exported to the lake and the project is built again on Spark. Every feature, label,
guardrail and calendar mart must then agree row for row and column by column: exactly for keys, text,
flags and dates, and to 1e-9 (relative) for floating point, where the engines sum in different orders.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from dbt_project.parity import ATOL, PARITY_MARTS, RTOL, naive_timestamps, spark_table
from dbt_project.runner import build
from featurecast.marketdata.landing import land
from featurecast.marketdata.synthetic import SyntheticSpec, generate, inject_defects
from tests.python.conftest import STATISTICAL_DEFECTS, make_settings, read_table

pytest.importorskip("pyspark", reason="the spark extra is not installed (pip install -e '.[spark]')")

pytestmark = [pytest.mark.dbt, pytest.mark.spark]


@pytest.fixture(scope="module")
def both(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("spark"))
    prices, _ = inject_defects(generate(SyntheticSpec(n_symbols=12, years=2.0, seed=3)).prices, STATISTICAL_DEFECTS)
    land(settings.warehouse_path, prices, source="synthetic")
    duckdb_build = build(settings, quiet=True)
    spark_build = build(settings, quiet=True, target="spark")
    return settings, duckdb_build, spark_build


def test_every_model_data_test_and_unit_test_passes_on_spark(both) -> None:
    _, duckdb_build, spark_build = both
    assert spark_build.success, spark_build.describe_failures()
    on_spark = {(n.resource_type, n.name) for n in spark_build.nodes}
    on_duckdb = {(n.resource_type, n.name) for n in duckdb_build.nodes}
    assert on_spark == on_duckdb  # the same models, data tests and unit tests ran
    assert {n.resource_type for n in spark_build.nodes} >= {"model", "test", "unit_test", "seed"}
    assert not spark_build.failed


@pytest.mark.parametrize("mart", list(PARITY_MARTS))
def test_spark_gives_duckdbs_numbers(both, mart) -> None:
    settings, _, _ = both
    keys = PARITY_MARTS[mart]
    expected = read_table(settings.warehouse_path, mart, ", ".join(keys))
    actual = spark_table(mart)
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
