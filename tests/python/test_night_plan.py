"""The night's plan, without running dbt: what each dbt stage does and why (dbt_project/plan.py), what
the night runs, skips or only checks (flows/night_plan.py), and that each stage's declared sources are
the ones dbt's graph says it reads.

| facts before a stage runs                          | the stage        | SQL tests |
|----------------------------------------------------|------------------|-----------|
| full refresh asked / no warehouse / variables changed | full rebuild  | yes |
| project files changed / a view missing             | incremental      | yes |
| an earlier stage rebuilt / a source changed / no record | incremental | no  |
| nothing of that                                    | skipped          | no  |
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from dbt_project.plan import STAGE_SOURCES, StageFacts, StagePlan, changed_sources, plan_stage
from flows.night_plan import NightFacts, plan_night

SOURCES = {name: f"{name}: 10 rows" for name in STAGE_SOURCES["all"]}


def facts(**kwargs) -> StageFacts:
    base = {"stage": "features", "sources_now": dict(SOURCES), "sources_built": dict(SOURCES), "built_at": "then"}
    return StageFacts(**(base | kwargs))


@pytest.mark.parametrize(
    ("changes", "action", "sql_tests", "reason"),
    [
        ({}, "skip", False, "its sources and the project are unchanged since then"),
        ({"full_refresh_requested": True, "code_changed": True}, "full", True, "a full refresh was asked for"),
        ({"warehouse_exists": False}, "full", True, "first build of this warehouse"),
        ({"vars_changed": True, "code_changed": True}, "full", True, "the project variables or the feature"),
        ({"code_changed": True, "views_missing": True}, "incremental", True, "the project's files changed"),
        ({"views_missing": True}, "incremental", True, "a view of the project is missing"),
        ({"upstream_rebuilt": ("features",)}, "incremental", False, "features rebuilt before it"),
        ({"sources_built": None}, "incremental", False, "no record of its last build"),
        ({"sources_now": {}}, "incremental", False, "no record of its last build"),
        (
            {"sources_now": SOURCES | {"market.daily_ohlcv": "11 rows"}},
            "incremental",
            False,
            "new data in market.daily_ohlcv",
        ),
    ],
)
def test_a_stage_plan_follows_the_first_rule_that_holds(changes, action, sql_tests, reason) -> None:
    plan = plan_stage(facts(**changes))
    assert (plan.action, plan.sql_tests) == (action, sql_tests)
    assert reason in plan.reason and plan.runs == (action != "skip")


def test_a_stage_looks_only_at_the_sources_it_reads() -> None:
    """New forecasts change nothing the features read; a new backtest book is read by the features stage
    (fct_portfolio_daily) and by the portfolio books."""
    forecasts = SOURCES | {"ml.forecasts": "11 rows"}
    assert plan_stage(facts(sources_now=forecasts)).action == "skip"
    assert plan_stage(facts(stage="evaluation", sources_now=forecasts)).reason == "new data in ml.forecasts"
    books = SOURCES | {"ml.portfolio_books": "11 rows"}
    assert changed_sources(facts(stage="portfolio_books", sources_now=books)) == ["ml.portfolio_books"]
    assert plan_stage(facts(sources_now=books)).runs
    missing = {k: v for k, v in SOURCES.items() if k != "market.quarantine_releases"}
    assert plan_stage(facts(sources_now=missing)).reason == "new data in market.quarantine_releases"


def test_a_night_of_new_bars_alone_builds_only_what_reads_them() -> None:
    """New bars (and their load batch) alone: the features stage builds what reads them (runner picks the
    `features_new_bars` selector); a released quarantine finding or a new book builds the whole stage."""
    bars = SOURCES | {"market.daily_ohlcv": "11 rows", "market.load_batches": "2 rows"}
    assert plan_stage(facts(sources_now=bars)).new_bars_only
    assert plan_stage(facts(sources_now=SOURCES | {"market.daily_ohlcv": "11 rows"})).new_bars_only
    release = bars | {"market.quarantine_releases": "1 row"}
    assert plan_stage(facts(sources_now=release)).runs and not plan_stage(facts(sources_now=release)).new_bars_only
    for other in ({"upstream_rebuilt": ("features",)}, {"code_changed": True}, {"sources_built": None}):
        assert not plan_stage(facts(sources_now=bars, **other)).new_bars_only, other


def night(features: StagePlan, **kwargs) -> dict[str, tuple[str, str]]:
    base = {
        "source": "none",
        "features": features,
        "champion": "lgbm-1",
        "scored_by": "lgbm-1",
        "scored_through": date(2024, 5, 31),
        "features_through": date(2024, 5, 31),
    }
    return {step.name: (step.action, step.reason) for step in plan_night(NightFacts(**(base | kwargs)))}


SKIP = StagePlan("features", "skip", False, "its sources and the project are unchanged since then")
NEW_DAY = StagePlan("features", "incremental", False, "new data in market.daily_ohlcv")


def test_a_night_with_nothing_new_skips_what_new_data_would_drive() -> None:
    steps = night(SKIP)
    assert steps["ingest"][0] == "skip" and steps["dbt build: features and guardrails"][0] == "skip"
    assert steps["score signals"] == ("skip", "the champion's scores are current through 2024-05-31")
    assert steps["backtest"][0] == "skip" and steps["train models"][0] == "skip"
    assert steps["refresh regimes"][0] == steps["issue forecasts"][0] == "check"  # cheap: only unlabelled days
    assert steps["publish snapshot"][0] == "decide later"
    assert list(steps) == [
        "ingest",
        "source freshness",
        "dbt build: features and guardrails",
        "train models",
        "score signals",
        "refresh regimes",
        "backtest",
        "dbt build: portfolio books",
        "issue forecasts",
        "dbt build: evaluation",
        "publish snapshot",
    ]


def test_a_new_day_a_new_champion_or_missing_scores_run_scoring_and_check_the_backtest() -> None:
    assert night(NEW_DAY, source="synthetic")["ingest"][0] == "run"
    for steps in (
        night(NEW_DAY),
        night(SKIP, scored_by="lgbm-0"),
        night(SKIP, scored_through=date(2024, 5, 30)),
        night(SKIP, scored_by=None, scored_through=None),
    ):
        assert steps["score signals"][0] == "run", steps["score signals"]
        assert steps["backtest"][0] == "check", steps["backtest"]  # replays the book if its window changed
    assert "not the champion's (lgbm-0)" in night(SKIP, scored_by="lgbm-0")["score signals"][1]
    first = night(NEW_DAY, champion=None, scored_by=None, scored_through=None)
    assert first["train models"] == ("run", "no champion signal model yet")


@pytest.mark.dbt
def test_each_stage_declares_the_sources_dbt_says_its_models_read(clean_warehouse) -> None:
    """STAGE_SOURCES is what the plan compares; dbt's own graph (the stage's selector, the manifest's
    dependencies) must agree, or a change to a source would go unnoticed by a skipped stage."""
    from dbt.cli.main import dbtRunner

    from dbt_project.invoke import PROFILES_DIR, dbt_env
    from featurecast.config import PROJECT_ROOT

    target = clean_warehouse.settings.data_dir / "dbt_target"
    manifest = json.loads((target / "manifest.json").read_text())
    env = dbt_env(clean_warehouse.settings)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        for stage in ("features", "portfolio_books", "evaluation"):
            listed = dbtRunner().invoke(
                [
                    "ls",
                    "--selector",
                    stage,
                    "--resource-type",
                    "model",
                    "--output",
                    "json",
                    "--output-keys",
                    "unique_id",
                    "--project-dir",
                    str(PROJECT_ROOT),
                    "--profiles-dir",
                    str(PROFILES_DIR),
                    "--target-path",
                    str(target),
                    "-q",
                ]
            )
            models = [json.loads(line)["unique_id"] for line in listed.result]
            read = {
                dep.removeprefix("source.featurecast.")
                for model in models
                for dep in manifest["nodes"][model]["depends_on"]["nodes"]
                if dep.startswith("source.")
            }
            assert read == set(STAGE_SOURCES[stage]), stage


@pytest.mark.dbt
def test_the_new_bars_selector_holds_every_node_that_reads_new_bars_and_no_other(clean_warehouse) -> None:
    """`features_new_bars` (a night of new bars alone) must hold every model and test of the features
    stage that reads market.daily_ohlcv or market.load_batches, directly or downstream; what it leaves out
    (the calendar, the seeds' tests) reads neither, so its tables are what a build of the same inputs made."""
    from dbt.cli.main import dbtRunner

    from dbt_project.invoke import PROFILES_DIR, dbt_env
    from dbt_project.plan import NEW_BARS
    from featurecast.config import PROJECT_ROOT

    target = clean_warehouse.settings.data_dir / "dbt_target"
    parents = json.loads((target / "manifest.json").read_text())["parent_map"]

    def reads_new_bars(node: str, seen: set[str]) -> bool:
        if node in seen:
            return False
        seen.add(node)
        return any(p.removeprefix("source.featurecast.") in NEW_BARS or reads_new_bars(p, seen) for p in parents[node])

    def listed(selector: str) -> set[str]:
        args = ["ls", "--selector", selector, "--resource-type", "model", "--resource-type", "test"]
        args += ["--output", "json", "--output-keys", "unique_id", "--project-dir", str(PROJECT_ROOT)]
        args += ["--profiles-dir", str(PROFILES_DIR), "--target-path", str(target), "-q"]
        return {json.loads(line)["unique_id"] for line in dbtRunner().invoke(args).result}

    with pytest.MonkeyPatch.context() as patch:
        for key, value in dbt_env(clean_warehouse.settings).items():
            patch.setenv(key, value)
        nightly, new_bars = listed("features_nightly"), listed("features_new_bars")
    assert new_bars < nightly and "model.featurecast.dim_trading_calendar" in nightly - new_bars
    assert "model.featurecast.fct_daily_features" in new_bars
    assert all(reads_new_bars(node, set()) for node in new_bars)
    assert not any(reads_new_bars(node, set()) for node in nightly - new_bars)


def test_a_build_records_its_sources_for_every_stage_it_brings_up_to_date(tmp_path) -> None:
    """The portfolio books stage rebuilds every features model that reads the backtest's book, so the
    next night's features stage must not count that book as new; it does not vouch for the bars."""
    from dbt_project.build_state import read_stage, write_stages
    from tests.python.conftest import make_settings

    settings = make_settings(tmp_path)
    write_stages(settings, "portfolio_books", SOURCES)
    assert read_stage(settings, "features") is None  # it read only the book: no claim about the bars
    write_stages(settings, "features", SOURCES)
    assert read_stage(settings, "portfolio_books")["sources"] == {"ml.portfolio_books": SOURCES["ml.portfolio_books"]}
    newer = SOURCES | {"ml.portfolio_books": "11 rows", "market.daily_ohlcv": "11 rows", "ml.forecasts": "9 rows"}
    write_stages(settings, "portfolio_books", newer)
    features = read_stage(settings, "features")["sources"]
    assert (
        features["ml.portfolio_books"] == "11 rows" and features["market.daily_ohlcv"] == SOURCES["market.daily_ohlcv"]
    )
    assert plan_stage(facts(sources_now=newer, sources_built=features)).reason == "new data in market.daily_ohlcv"
    write_stages(settings, "evaluation", newer)
    assert set(read_stage(settings, "evaluation")["sources"]) == {
        "ml.forecasts",
        "ml.regime_history",
        "ml.regime_models",
    }
    write_stages(settings, "all", {})  # sources unreadable: every record dropped, every stage runs next time
    assert all(read_stage(settings, s) is None for s in ("features", "portfolio_books", "evaluation"))


def test_no_task_reads_the_environment_the_flows_hand_settings_in() -> None:
    """A task's inputs are what Prefect shows and what a deployment's flow run gave it: the flows read
    the configuration once and pass it; no task calls Settings.from_env() or reads os.environ."""
    import ast

    from featurecast.config import PROJECT_ROOT

    for path in sorted((PROJECT_ROOT / "flows").glob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef):
                continue
            decorators = {ast.unparse(d).split("(")[0] for d in node.decorator_list}
            if "task" not in decorators:
                continue
            body = ast.unparse(node)
            assert "from_env(" not in body and "os.environ" not in body, f"{path.name}:{node.name}"
            assert "settings" in [a.arg for a in node.args.args] or "Settings" not in body, node.name


@pytest.mark.dbt
def test_the_night_after_the_first_backtest_skips_the_features_stage(clean_warehouse, tmp_path) -> None:
    """The first backtest creates ml.portfolio_books: the portfolio books stage recreates its view with
    the SQL tests, and that covers the features stage too (it reads no other Python-side table), so the
    next night has nothing to run there."""
    import shutil

    import duckdb

    from dbt_project.runner import build
    from tests.python.conftest import make_settings

    settings = make_settings(tmp_path)
    shutil.copy(clean_warehouse.path, settings.warehouse_path)
    assert build(settings, selector="features", quiet=True, skip_unchanged=True).plan.runs  # no record yet
    assert not build(settings, selector="features", quiet=True, skip_unchanged=True).plan.runs
    from ml.backtest.run import DDL

    with duckdb.connect(str(settings.warehouse_path)) as con:  # the backtest's tables, its first time
        con.execute(DDL)
    books = build(settings, selector="portfolio_books", quiet=True, skip_unchanged=True)
    assert books.plan.sql_tests and "Python side's tables it reads changed" in books.plan.reason
    again = build(settings, selector="features", quiet=True, skip_unchanged=True)
    assert not again.plan.runs, again.plan
