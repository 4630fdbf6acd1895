"""`build`: a dbt build of one stage, doing what its plan says and recording what it built.

The jobs around it live in modules of their own:
- `dbt_project.invoke`: running dbt in-process and summarising the result by node;
- `dbt_project.fingerprints`: what a build depends on (variables, project files, views, source tables);
- `dbt_project.build_state`: the records a build leaves beside the warehouse;
- `dbt_project.plan`: the pure decision of what a stage must do, and why;
- `dbt_project.freshness`: source freshness by the project's declared limits, without starting dbt.
"""

from __future__ import annotations

import json
from pathlib import Path

from dbt_project import build_state, fingerprints
from dbt_project.invoke import DbtBuildError, DbtRunSummary, artifacts_dir, run_dbt
from dbt_project.plan import (
    ALL,
    COVERS,
    EVALUATION_SELECTOR,
    FEATURES_SELECTOR,
    PORTFOLIO_BOOKS_SELECTOR,
    STAGE_SOURCES,
    StageFacts,
    StagePlan,
    plan_stage,
)
from featurecast.config import Settings

__all__ = [
    "EVALUATION_SELECTOR",
    "FEATURES_SELECTOR",
    "PORTFOLIO_BOOKS_SELECTOR",
    "DbtBuildError",
    "DbtRunSummary",
    "build",
    "stage_facts",
]

# Each stage (selector) and the same stage without the SQL tests and project views, as a build whose
# project files and Python-side tables are unchanged runs it (selectors.yml).
# The features stage when the only change is new bars: what reads them (selectors.yml).
NEW_BARS_SELECTOR = "features_new_bars"
NIGHTLY_SELECTORS = {
    None: "all_nightly",
    FEATURES_SELECTOR: "features_nightly",
    EVALUATION_SELECTOR: "evaluation_nightly",
    PORTFOLIO_BOOKS_SELECTOR: "portfolio_books_nightly",
}


def _code(settings: Settings, selector: str | None) -> str:
    """What the stage's SQL tests and views depend on: the project's files and which of the Python side's
    tables the stage reads exist (a stg_ml__ view selects from its table once it exists)."""
    reads = {name.removeprefix("ml.") for name in STAGE_SOURCES[selector or ALL] if name.startswith("ml.")}
    tables = [t for t in fingerprints.python_side_tables(settings) if t in reads]
    return fingerprints.sql_fingerprint() + " " + ",".join(tables)


def _code_change(recorded: str | None, current: str) -> str:
    """Why the stage's SQL tests run again ("" when they need not)."""
    if recorded == current:
        return ""
    if recorded is None:
        return "its SQL tests have not passed on this warehouse yet"
    if recorded.split(" ")[0] != current.split(" ")[0]:
        return "the project's files changed since its SQL tests last passed here"
    return "the Python side's tables it reads changed (a view selects from them now)"


def _cover_sql_tests(settings: Settings, built: str, code: str) -> None:
    """A stage whose SQL tests just ran recreated the views of the Python-side tables it reads; a stage it
    covers (plan.COVERS) whose nodes it all built, or that reads no other such table and whose record is
    of the same project files, is then up to date too (the portfolio books' views are the only ones of
    the features stage that depend on a Python-side table): without this, the night after the first
    backtest would run the features stage's SQL tests again."""
    recorded = build_state.read_unit_tested(settings)
    for stage in COVERS[built]:
        if stage in (built, ALL):
            continue
        whole = set(STAGE_SOURCES[stage]) <= set(STAGE_SOURCES[built])  # its nodes are all in the build
        mine = {t for t in STAGE_SOURCES[stage] if t.startswith("ml.")}
        same_files = (recorded.get(stage) or "").split(" ")[0] == code.split(" ")[0]
        if whole or (mine <= set(STAGE_SOURCES[built]) and same_files):
            build_state.write_unit_tested(settings, stage, _code(settings, stage))


def stage_facts(
    settings: Settings,
    selector: str | None = None,
    *,
    full_refresh: bool = False,
    target_path: Path | None = None,
    upstream_rebuilt: tuple[str, ...] = (),
) -> StageFacts:
    """What is known about a DuckDB build of `selector` (None: the whole project) before it runs."""
    stage = selector or ALL
    warehouse = settings.warehouse_path
    exists = warehouse.exists()
    previous_vars = build_state.read_vars(settings)
    code_change = _code_change(build_state.read_unit_tested(settings).get(stage), _code(settings, selector))
    code_changed = bool(code_change)
    manifest = artifacts_dir(settings, target_path) / "manifest.json"
    record = build_state.read_stage(settings, stage)
    return StageFacts(
        stage=stage,
        warehouse_exists=exists,
        full_refresh_requested=full_refresh,
        # No record yet on an existing warehouse (built before this check existed): rebuild once, to be safe.
        vars_changed=exists and previous_vars != fingerprints.build_fingerprint(settings),
        code_changed=code_changed,
        code_change=code_change,
        views_missing=not code_changed and fingerprints.views_missing(settings, manifest),
        upstream_rebuilt=upstream_rebuilt,
        sources_now=fingerprints.source_state(warehouse, list(STAGE_SOURCES[stage])),
        sources_built=None if record is None else record.get("sources"),
        built_at=None if record is None else record.get("built_at"),
    )


def build(
    settings: Settings,
    *,
    full_refresh: bool = False,
    select: str | None = None,
    selector: str | None = None,
    target_path: Path | None = None,
    raise_on_failure: bool = True,
    quiet: bool = False,
    node_tasks: bool = False,
    full_data_tests: bool = False,
    target: str | None = None,
    skip_unchanged: bool = False,
    upstream_rebuilt: tuple[str, ...] = (),
) -> DbtRunSummary:
    """`dbt build`: seeds, models, data tests and unit tests, in DAG order; `select` (node selection
    syntax) or `selector` (a name in selectors.yml) narrows it.

    What it runs is the stage's plan (dbt_project/plan.py): the incremental models bake the project
    variables in (the market series, the universe minimum) and their columns, so a build whose variables
    or feature catalogue differ from the last successful one rebuilds in full. Unit tests and the macro
    fixture tests (selector `sql_tests`) test the SQL, not the data; seeds change only with the project's
    files, and the views (selector `project_views`) with those files and with which of the Python side's
    tables exist. A stage whose SQL tests passed on this warehouse with the same project files skips them
    and neither reloads the seeds nor recreates the views, as dbt advises for production runs; the
    stage's `*_nightly` selector says what is left. With `skip_unchanged` (the nightly flow), a stage
    whose source tables are as its last build found them runs nothing at all. A `select` builds what it
    names with every test and records nothing.

    Data tests whose verdict is per date read only the dates that changed since their last pass
    (macros/get_where_subquery.sql); `full_data_tests` (or a full refresh) makes every test read
    everything.

    `target="spark"` builds the same project on Spark (profiles.yml): the warehouse's source tables are
    exported to the lake (featurecast/lake.py) and declared to Spark first; it always builds, with the
    SQL tests when the project's files changed."""
    stage = f"{target}:{selector or ALL}" if target else selector or ALL
    if target is None and not select:
        facts = stage_facts(
            settings, selector, full_refresh=full_refresh, target_path=target_path, upstream_rebuilt=upstream_rebuilt
        )
        plan = plan_stage(facts)
        if plan.action == "skip" and not skip_unchanged:
            plan = StagePlan(plan.stage, "incremental", False, plan.reason)
        if not plan.runs:
            return DbtRunSummary(command=["build", "--selector", selector or ALL], success=True, plan=plan)
    else:
        code_changed = build_state.read_unit_tested(settings).get(stage) != _code(settings, selector)
        tests = bool(select) or full_refresh or code_changed
        # A selection on a warehouse whose variables changed rebuilds what it selects in full.
        vars_changed = (
            target is None
            and settings.warehouse_path.exists()
            and (build_state.read_vars(settings) != fingerprints.build_fingerprint(settings))
        )
        full = full_refresh or vars_changed
        plan = StagePlan(stage, "full" if full else "incremental", tests, "as selected" if select else "on spark")
        facts = None

    args = ["build"]
    if plan.action == "full" and (target is not None or settings.warehouse_path.exists()):
        args.append("--full-refresh")
    if target is not None:
        from featurecast.lake import export_sources, lake_dir

        tables = export_sources(settings)
        register = json.dumps({"lake": str(lake_dir(settings)), "tables": tables})
        run_dbt(["run-operation", "register_lake_tables", "--args", register], settings, quiet=True, target=target)
    if not plan.sql_tests:
        args += ["--exclude-resource-type", "unit_test", "--exclude-resource-type", "seed"]
    if select:
        args += ["--select", select]
    chosen = selector if plan.sql_tests else NIGHTLY_SELECTORS.get(selector, selector)
    if selector == FEATURES_SELECTOR and plan.action == "incremental" and plan.new_bars_only:
        chosen = NEW_BARS_SELECTOR  # the calendar and the seeds' models keep what they were
    if chosen:
        args += ["--selector", chosen]
    code = _code(settings, selector)
    summary = run_dbt(
        args,
        settings,
        target_path=target_path,
        raise_on_failure=raise_on_failure,
        quiet=quiet,
        node_tasks=node_tasks,
        extra_vars={"full_data_tests": True} if full_data_tests else None,
        target=target,
        # A nightly build runs the project the last full build parsed (same sql_fingerprint), so that
        # build's manifest.json (views_missing, `featurecast features` read it) still describes it.
        # prefect-dbt reads the manifest itself: node tasks keep dbt's own artifacts.
        write_manifest=not (not plan.sql_tests and target is None and not node_tasks),
        progress=f"dbt build ({plan.stage}, {plan.action})",
    )
    summary.plan = plan
    if not summary.success or select:
        return summary
    if target is None and selector in (None, FEATURES_SELECTOR):
        build_state.write_vars(settings, fingerprints.build_fingerprint(settings))
    if plan.sql_tests:
        build_state.write_unit_tested(settings, stage, code)
        if target is None:
            _cover_sql_tests(settings, selector or ALL, code)
    if facts is not None:
        build_state.write_stages(settings, facts.stage, facts.sources_now)
    return summary
