"""A nightly build's data tests check the dates that changed, not the whole history.

| situation                                              | what the build's data tests do                     |
| first build, full refresh, `--full-tests`              | every test reads whole tables                      |
| nightly build after a pass                             | per-date tests read only the dates changed since   |
| a bad bar lands on the new day                         | caught by name, the build fails                    |
| the same bad bar is still there the next night         | caught again: a failed test's watermark stays put  |
| old history damaged behind the pipeline's back         | not re-read nightly; `full_data_tests` finds it    |
| gaps, freshness, bars accounted for, open findings     | always read whole tables (not per-date verdicts)   |
| the SQL is unchanged since the unit tests last passed  | unit tests and SQL tests are skipped, seeds and    |
|                                                        | views kept; a change to SQL or seeds runs them all |
| a view dropped by hand                                 | the next build recreates the views                 |
| the Python side creates one of its tables (ml.*)       | the next build recreates the views: the stg_ml__   |
|                                                        | view reads the table instead of being empty        |
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import replace

import duckdb
import pandas as pd
import pytest
import yaml

from dbt_project.feature_catalog import MARTS_YAML, TRAINING_SET
from dbt_project.runner import DbtBuildError, build
from featurecast.config import PROJECT_ROOT
from featurecast.marketdata.landing import land
from featurecast.marketdata.synthetic import SyntheticSpec, generate
from tests.python.conftest import make_settings

pytestmark = pytest.mark.dbt

SCOPED = {
    "grain_fct_daily_features",
    "grain_int_prices_checked",
    "grain_fct_daily_labels",
    "grain_fct_training_set",  # on a view: its 21 re-opened sessions (meta reopens_sessions)
    "guardrail_duplicate_symbol_date_source",
    "guardrail_ohlc_consistency",
}
WHOLE_TABLE = {"guardrail_missing_sessions", "guardrail_symbol_freshness", "guardrail_bars_accounted_for"}


SQL_TESTS = {p.stem for p in (PROJECT_ROOT / "tests" / "macros").glob("*.sql")}


def project_checks(summary) -> set[str]:
    """What a build ran that depends on the project's files (and the Python side's tables) alone: unit
    tests, SQL tests, seeds, and the views (stg_market__daily_ohlcv, the view every market model reads,
    and stg_ml__forecasts stand for them)."""
    kinds = {n.resource_type for n in summary.nodes if n.resource_type in ("unit_test", "seed")}
    kinds |= {"sql_test"} if any(n.name in SQL_TESTS for n in summary.nodes) else set()
    views = {"stg_market__daily_ohlcv", "stg_ml__forecasts"}
    return kinds | ({"view"} if any(n.name in views for n in summary.nodes) else set())


def watermarks(settings) -> dict[str, object]:
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        rows = con.execute("select test_id, verified_through from audit.data_test_watermarks").fetchall()
    finally:
        con.close()
    return {test_id.split(".")[2]: verified for test_id, verified in rows}


def insert_raw(settings, sql: str) -> None:
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        con.execute(sql)
    finally:
        con.close()


@pytest.fixture(scope="module")
def nightly(tmp_path_factory):
    """Six symbols x 2 years: all but the last three sessions, built; then the nights after."""
    # dbt's debug log: some tests read the SQL statements a build ran (last_build_log)
    settings = replace(make_settings(tmp_path_factory.mktemp("scoped")), dbt_log_level="debug")
    prices = generate(SyntheticSpec(n_symbols=6, years=2.0, seed=5)).prices
    sessions = sorted(prices["date"].unique())
    land(settings.warehouse_path, prices[prices["date"] < sessions[-3]], source="synthetic")
    first = build(settings, quiet=True)
    return {"settings": settings, "prices": prices, "sessions": sessions, "first": first}


def test_the_first_build_records_what_each_per_date_test_verified(nightly) -> None:
    recorded = watermarks(nightly["settings"])
    assert set(recorded) >= SCOPED
    assert not WHOLE_TABLE & set(recorded)
    assert project_checks(nightly["first"]) == {"unit_test", "sql_test", "seed", "view"}


def test_old_damage_is_not_re_read_nightly_but_a_full_test_run_finds_it(nightly) -> None:
    settings, prices, sessions = nightly["settings"], nightly["prices"], nightly["sessions"]
    # Damage behind the pipeline's back: a duplicate label row a year ago. (A duplicate feature row would
    # be caught nightly anyway, by guardrail_bars_accounted_for, which reads whole tables.)
    old = sessions[250]
    insert_raw(
        settings,
        f"insert into marts.fct_daily_labels select * from marts.fct_daily_labels "
        f"where symbol = 'SYN001' and date = date '{pd.Timestamp(old).date()}'",
    )
    land(settings.warehouse_path, prices[prices["date"] == sessions[-3]], source="synthetic")
    night = build(settings, quiet=True)
    assert night.success
    # The SQL did not change since the first build: its unit tests and SQL tests are not run again, the
    # seeds are not reloaded nor the project views recreated; the data tests on them still run.
    assert project_checks(night) == set()
    assert {"unique_market_calendar_exceptions_calendar_date", "guardrail_ohlc_consistency"} <= {
        n.name for n in night.nodes
    }
    found = rf"grain_fct_daily_labels: fail \(1 rows\): SYN001 {pd.Timestamp(old).date()}"
    with pytest.raises(DbtBuildError, match=found):
        build(settings, quiet=True, full_data_tests=True)
    insert_raw(  # repair: keep one of the two identical rows
        settings,
        "create or replace temp table keep as select distinct * from marts.fct_daily_labels; "
        "delete from marts.fct_daily_labels; insert into marts.fct_daily_labels select * from keep",
    )
    assert build(settings, quiet=True, full_data_tests=True).success


def test_a_bad_bar_on_the_new_day_fails_and_keeps_failing_until_it_is_fixed(nightly) -> None:
    settings, prices, sessions = nightly["settings"], nightly["prices"], nightly["sessions"]
    land(settings.warehouse_path, prices[prices["date"] == sessions[-2]], source="synthetic")
    before = watermarks(settings)["guardrail_ohlc_consistency"]
    day = pd.Timestamp(sessions[-2]).date()
    # Another loader writes a bar whose high is below its low, loaded now.
    insert_raw(
        settings,
        "insert into raw.daily_ohlcv select symbol, date, open, low * 0.9, low, close, volume, adjusted_close, "
        "dividend_amount, split_coefficient, 'other', batch_id, now()::timestamp from raw.daily_ohlcv "
        f"where symbol = 'SYN002' and date = date '{day}' and source = 'synthetic'",
    )
    for _ in range(2):  # the next night re-checks the same dates: a failed test records nothing
        with pytest.raises(DbtBuildError, match=rf"guardrail_ohlc_consistency: fail \(1 rows\): SYN002 {day}"):
            build(settings, quiet=True)
        assert watermarks(settings)["guardrail_ohlc_consistency"] == before
    insert_raw(settings, "delete from raw.daily_ohlcv where source = 'other'")
    fixed = build(settings, quiet=True)
    assert fixed.success
    assert watermarks(settings)["guardrail_ohlc_consistency"] > before


def test_a_change_to_the_sql_runs_the_unit_tests_again(nightly, monkeypatch) -> None:
    from dbt_project import fingerprints

    settings = nightly["settings"]
    assert project_checks(build(settings, quiet=True)) == set()
    monkeypatch.setattr(fingerprints, "sql_fingerprint", lambda: "the SQL changed")
    rerun = build(settings, quiet=True)
    assert rerun.success and project_checks(rerun) == {"unit_test", "sql_test", "seed", "view"}
    # the whole build ran every stage's SQL tests with this SQL: the nightly stages need not again
    assert project_checks(build(settings, quiet=True, selector="features")) == set()
    # the stage the nightly flow runs, when the SQL changes again
    monkeypatch.setattr(fingerprints, "sql_fingerprint", lambda: "the SQL changed again")
    features = build(settings, quiet=True, selector="features")
    assert features.success and project_checks(features) == {"unit_test", "sql_test", "seed", "view"}
    assert project_checks(build(settings, quiet=True, selector="features")) == set()


def test_a_view_dropped_by_hand_is_recreated_by_the_next_build(nightly) -> None:
    settings = nightly["settings"]
    build(settings, quiet=True)  # records the project files as they are (an earlier test changed them)
    assert project_checks(build(settings, quiet=True)) == set()
    insert_raw(settings, "drop view staging.stg_market__daily_ohlcv")
    rebuilt = build(settings, quiet=True)
    assert rebuilt.success and "view" in project_checks(rebuilt)
    assert project_checks(build(settings, quiet=True)) == set()


def test_the_fingerprint_reads_the_seeds(tmp_path, monkeypatch) -> None:
    """Seeds are part of the project fingerprint: an edited seed file is loaded again on the next build."""
    from dbt_project import fingerprints

    for name in fingerprints.SQL_FILES:
        shutil.copy(PROJECT_ROOT / name, tmp_path / name)
    for folder in fingerprints.SQL_SOURCES:
        shutil.copytree(PROJECT_ROOT / folder, tmp_path / folder)
    monkeypatch.setattr(fingerprints, "PROJECT_ROOT", tmp_path)
    before = fingerprints.sql_fingerprint()
    seed = tmp_path / "seeds" / "market_calendar_exceptions.csv"
    seed.write_text(seed.read_text() + "2030-01-02,false,an exchange closure\n")
    assert fingerprints.sql_fingerprint() != before


def forecasts_seen(settings) -> int:
    """Rows stg_ml__forecasts shows of one forecast written to ml.forecasts (removed again after)."""
    con = duckdb.connect(str(settings.warehouse_path))
    try:
        con.execute(
            "insert into ml.forecasts values ('book', date '2020-01-02', 5, date '2020-01-09', 'm', 'v1', "
            "100.0, 90.0, 100.0, 110.0)"
        )
        return con.execute("select count(*) from staging.stg_ml__forecasts").fetchone()[0]
    finally:
        con.execute("delete from ml.forecasts")
        con.close()


def test_a_table_the_python_side_creates_makes_the_next_build_read_it(nightly) -> None:
    """The stg_ml__ views are empty until the Python side writes its table (macros/source_or_empty.sql).
    Nightly builds keep the views, so the first build after the table appears must recreate them."""
    settings = nightly["settings"]
    insert_raw(
        settings,
        "create schema if not exists ml; create table ml.forecasts (portfolio varchar, issue_date date, "
        "horizon integer, target_date date, model varchar, model_version varchar, equity_at_issue double, "
        "q05 double, q50 double, q95 double)",
    )
    assert forecasts_seen(settings) == 0  # the view built before the table existed is the empty one
    rebuilt = build(settings, quiet=True)
    assert rebuilt.success and "view" in project_checks(rebuilt)
    assert forecasts_seen(settings) == 1
    assert project_checks(build(settings, quiet=True)) == set()


def test_the_training_set_view_follows_a_new_session_without_being_rebuilt(nightly) -> None:
    """fct_training_set is a view over the features and labels marts: a nightly build does not touch it,
    yet the row whose 21-session label the new session completes is there, and its grain test ran on
    the re-opened sessions only."""
    settings, prices, sessions = nightly["settings"], nightly["prices"], nightly["sessions"]
    assert build(settings, quiet=True).success  # settle: an earlier test created a Python-side table
    land(settings.warehouse_path, prices[prices["date"] == sessions[-1]], source="synthetic")
    night = build(settings, quiet=True)
    ran = {n.name for n in night.nodes}
    assert night.success and "fct_training_set" not in ran and "grain_fct_training_set" in ran
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        kind = con.execute(
            "select table_type from information_schema.tables "
            "where table_schema = 'marts' and table_name = 'fct_training_set'"
        ).fetchone()
        columns = [
            name
            for (name,) in con.execute(
                "select column_name from information_schema.columns "
                "where table_schema = 'marts' and table_name = 'fct_training_set' order by ordinal_position"
            ).fetchall()
        ]
        newest, symbols = con.execute(
            "select max(date), count(*) filter (where date = (select max(date) from marts.fct_training_set)) "
            "from marts.fct_training_set"
        ).fetchone()
    finally:
        con.close()
    assert kind == ("VIEW",)
    # a view's contract does not check the order of its columns: the documented order is kept by hand
    documented = yaml.safe_load(MARTS_YAML.read_text())
    (mart,) = [m for m in documented["models"] if m["name"] == TRAINING_SET]
    assert columns == [c["name"] for c in mart["columns"]]
    # the last session whose every label horizon (21 sessions) is complete now
    assert pd.Timestamp(newest) == pd.Timestamp(sessions[-22]) and symbols == 6


def comments(settings) -> dict[tuple[str, str, str], str | None]:
    """Every comment of the project's schemas: (schema, relation, column or '') -> comment."""
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        rows = con.execute(
            "select * from (select schema_name, table_name, '', comment from duckdb_tables() "
            "union all select schema_name, table_name, column_name, comment from duckdb_columns()) "
            "where schema_name in ('staging', 'intermediate', 'marts')"
        ).fetchall()
    finally:
        con.close()
    return {(schema, name, column): comment for schema, name, column, comment in rows}


def last_build_log(settings) -> str:
    """dbt's debug log of the newest run (dbt appends every run to <data dir>/dbt_logs/dbt.log)."""
    text = (settings.data_dir / "dbt_logs" / "dbt.log").read_text()
    return text[text.rindex("Running with dbt") :]


def test_a_nightly_build_writes_only_the_comments_that_differ(nightly) -> None:
    """dbt writes every table and column comment after each build; featurecast's persist_docs
    (macros/duckdb__persist_docs.sql) writes the ones the warehouse lacks. A comment edited by hand comes
    back at the next build, and no other comment of an incremental model is written again."""
    settings = nightly["settings"]
    assert build(settings, quiet=True).success
    documented = comments(settings)
    insert_raw(
        settings,
        "comment on column marts.fct_daily_features.ret_1d is 'edited by hand'; "
        "comment on table intermediate.int_prices_checked is 'edited by hand'",
    )
    assert build(settings, quiet=True).success
    assert comments(settings) == documented
    log = last_build_log(settings)
    incremental = ("int_prices_checked", "int_symbol_features_computed", "fct_daily_features", "fct_daily_labels")
    written = re.findall(r'comment on column "warehouse"\."\w+"\."(\w+)"\.(\w+)', log)
    assert [(table, column) for table, column in written if table in incremental] == [("fct_daily_features", "ret_1d")]
    tables = set(re.findall(r'comment on table "warehouse"\."\w+"\."(\w+)"', log))
    assert tables & set(incremental) == {"int_prices_checked"}
    assert "dim_symbols" in tables  # a table rebuilt every night gets its comments again


def test_a_nightly_build_keeps_the_manifest_and_writes_its_run_results(nightly) -> None:
    """A build whose project files are unchanged keeps dbt's manifest.json of the build that parsed them
    (serialising it costs about half a second a night) and still writes run_results.json."""
    from featurecast.features import list_features

    settings = nightly["settings"]
    assert build(settings, quiet=True).success
    target = settings.data_dir / "dbt_target"
    parsed = (target / "manifest.json").stat().st_mtime_ns
    night = build(settings, quiet=True)
    assert night.success and project_checks(night) == set()
    assert (target / "manifest.json").stat().st_mtime_ns == parsed
    results = json.loads((target / "run_results.json").read_text())["results"]
    assert sorted(r["unique_id"] for r in results) == sorted(n.unique_id for n in night.nodes)
    assert "ret_1d" in set(list_features(settings)["name"])  # what reads the manifest still finds it


def compiled(results: list[dict], test_name: str) -> str:
    """The SQL a data test ran, from run_results.json."""
    (sql,) = [r["compiled_code"] for r in results if r["unique_id"].split(".")[2] == test_name]
    return sql


def test_each_scoped_test_reads_from_its_own_last_pass_and_the_watermarks_once_a_run(nightly) -> None:
    """Scoped data tests that last passed on the same inputs share a start date: the watermarks are read
    once a run (once per dbt thread at most) and each start date is looked up once (macros/run_cache.sql),
    not twice per test. A test whose last pass is older still reads from its own; one whose watermark was
    emptied by hand reads everything."""
    settings, sessions = nightly["settings"], nightly["sessions"]
    assert build(settings, quiet=True).success  # settle: every scoped test verified the newest inputs
    insert_raw(
        settings,
        "update audit.data_test_watermarks set verified_through = timestamp '2000-01-01' "
        "where test_id like 'test.featurecast.guardrail_ohlc_consistency.%'",
    )
    night = build(settings, quiet=True)
    assert night.success
    results = json.loads((settings.data_dir / "dbt_target" / "run_results.json").read_text())["results"]
    first = pd.Timestamp(sessions[0]).date()
    assert f"date >= date '{first}'" in compiled(results, "guardrail_ohlc_consistency")
    for name in ("guardrail_duplicate_symbol_date_source", "grain_int_prices_checked", "grain_fct_daily_features"):
        assert "date >= date '9999-12-31'" in compiled(results, name)  # nothing changed since their pass
    scoped = [r for r in results if "as tested where date >=" in (r.get("compiled_code") or "")]
    reads = last_build_log(settings).count("select test_id, cast(verified_through as string) from")
    assert len(scoped) > 20 and 1 <= reads <= 2  # dbt's two threads may both miss before the first stores it
    assert watermarks(settings)["guardrail_ohlc_consistency"] > pd.Timestamp("2000-01-01")
    # A watermark emptied by hand is no record: that test reads the whole table again, and records anew.
    insert_raw(
        settings,
        "update audit.data_test_watermarks set verified_through = null "
        "where test_id like 'test.featurecast.guardrail_ohlc_consistency.%'",
    )
    assert build(settings, quiet=True).success
    results = json.loads((settings.data_dir / "dbt_target" / "run_results.json").read_text())["results"]
    assert "as tested where" not in compiled(results, "guardrail_ohlc_consistency")
    assert watermarks(settings)["guardrail_ohlc_consistency"] is not None
