"""Running dbt programmatically: the one place featurecast invokes dbt.

`run_dbt` sets the environment dbt's profile reads (FEATURECAST_WAREHOUSE), runs dbt in-process through
`dbtRunner`, and turns the result into a `DbtRunSummary` that names every failing or warning node.
dbt "succeeds" with zero results when a selector matches nothing, so an empty result is an error here.
DuckDB allows one writer: callers must not hold the warehouse open while dbt runs.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from featurecast.config import PROJECT_ROOT, Settings

PROFILES_DIR = PROJECT_ROOT  # profiles.yml sits at the root, where users type `dbt build`
# The build's stages are dbt selectors in selectors.yml (so `dbt build --selector evaluation` at the root
# does what the flow does): "features" (all but evaluation), "portfolio_books" (after the backtest) and
# "evaluation" (what reads the forecasts and regimes the Python side writes back).
FEATURES_SELECTOR = "features"
PORTFOLIO_BOOKS_SELECTOR = "portfolio_books"
EVALUATION_SELECTOR = "evaluation"
_LOCK = threading.Lock()  # dbt's runner is not re-entrant; one invocation at a time per process.
NODE_TASK_JOIN_SECONDS = 60.0  # longest wait for prefect-dbt's node task threads after dbt returns


@dataclass(frozen=True)
class NodeResult:
    """One dbt node's outcome (model, test, seed, unit test)."""

    unique_id: str
    name: str
    resource_type: str
    status: str  # success, error, fail, warn, pass, skipped
    failures: int | None
    message: str | None
    execution_time: float
    # For a failing or warning data test: its first offending rows, e.g. "SYN001 2024-03-05".
    examples: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line: the node, its status, how many rows and the first of them."""
        text = f"{self.resource_type} {self.name}: {self.status}"
        text += f" ({self.failures} rows)" if self.failures else ""
        if self.examples:
            more = (self.failures or 0) - len(self.examples)
            text += ": " + "; ".join(self.examples) + (f"; and {more} more" if more > 0 else "")
        if self.message and self.status == "error":
            text += f" - {self.message}"
        return text


@dataclass
class DbtRunSummary:
    """What a dbt invocation did, by node."""

    command: list[str]
    success: bool
    nodes: list[NodeResult] = field(default_factory=list)
    error: str | None = None
    results: list[Any] = field(default_factory=list, repr=False)  # dbt's own result objects

    def by_status(self, *statuses: str) -> list[NodeResult]:
        return [n for n in self.nodes if n.status in statuses]

    @property
    def failed(self) -> list[NodeResult]:
        return self.by_status("error", "fail", "runtime error")

    @property
    def warned(self) -> list[NodeResult]:
        return self.by_status("warn")

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for node in self.nodes:
            out[node.status] = out.get(node.status, 0) + 1
        return out

    def describe_failures(self) -> str:
        lines = [n.describe() for n in self.failed]
        return "\n".join(lines) if lines else (self.error or "no failing node")


class DbtBuildError(RuntimeError):
    """dbt failed: a structural guardrail, a model error or a contract violation. Names the nodes."""

    def __init__(self, summary: DbtRunSummary) -> None:
        self.summary = summary
        super().__init__(f"dbt {' '.join(summary.command)} failed:\n{summary.describe_failures()}")


def _release_duckdb() -> None:
    """Close the DuckDB handle dbt-duckdb caches for the process, so the warehouse file is free again."""
    from dbt.adapters.duckdb.connections import DuckDBConnectionManager

    env = DuckDBConnectionManager._ENV
    if env is not None:
        env.close()
    DuckDBConnectionManager.close_all_connections()


def dbt_vars(settings: Settings) -> str:
    """The project variables featurecast's configuration sets (FEATURECAST_MARKET_SERIES, ...), as JSON."""
    import json

    return json.dumps(
        {"market_series": settings.market_series, "min_universe_symbols": settings.min_universe_symbols}
    )


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
# Each stage (selector) and the same stage without the SQL tests and project views, as a build whose
# project files and Python-side tables are unchanged runs it (selectors.yml).
NIGHTLY_SELECTORS = {
    None: "all_nightly",
    FEATURES_SELECTOR: "features_nightly",
    EVALUATION_SELECTOR: "evaluation_nightly",
    PORTFOLIO_BOOKS_SELECTOR: "portfolio_books_nightly",
}
# The source of the tables the Python side writes (forecasts, regimes, the backtest's book): the stg_ml__
# views select from them once they exist, and are empty until then (macros/source_or_empty.sql).
PYTHON_SIDE_SCHEMA = "ml"
PYTHON_SIDE_SOURCES = Path("models") / "staging" / "ml" / "_ml__sources.yml"


def sql_fingerprint() -> str:
    """A digest of the project's SQL, seeds and configuration and the dbt and DuckDB versions: unit
    tests and SQL tests need to run again, and seeds to be reloaded, only when it changes."""
    import hashlib

    import dbt.version
    import duckdb

    digest = hashlib.sha256(f"dbt {dbt.version.__version__} duckdb {duckdb.__version__}".encode())
    files = [PROJECT_ROOT / name for name in SQL_FILES]
    for folder in SQL_SOURCES:
        files += sorted(p for p in (PROJECT_ROOT / folder).rglob("*") if p.suffix in SQL_SUFFIXES)
    for path in files:
        digest.update(path.relative_to(PROJECT_ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def python_side_tables(settings: Settings) -> list[str]:
    """Which of the Python side's source tables (PYTHON_SIDE_SOURCES) exist in the DuckDB warehouse,
    sorted. The stg_ml__ views' SQL depends on them, so a change recreates the views (with the SQL
    tests). No warehouse, or one that cannot be read, has none."""
    import duckdb
    import yaml

    declared = yaml.safe_load((PROJECT_ROOT / PYTHON_SIDE_SOURCES).read_text())["sources"]
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


def dbt_env(settings: Settings) -> dict[str, str]:
    """Environment variables dbt needs for this configuration."""
    return {
        "FEATURECAST_WAREHOUSE": str(settings.warehouse_path),
        "FEATURECAST_DATA_DIR": str(settings.data_dir),  # the spark target keeps its tables under it
        "FEATURECAST_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
        "DBT_PROFILES_DIR": str(PROFILES_DIR),
        "DO_NOT_TRACK": "1",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def artifacts_dir(settings: Settings, target_path: Path | None = None, target: str | None = None) -> Path:
    """Where dbt writes its artifacts (manifest, run results) for this warehouse and target."""
    return target_path or settings.data_dir / (f"dbt_target_{target}" if target else "dbt_target")


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


def run_dbt(
    args: Sequence[str],
    settings: Settings,
    *,
    target_path: Path | None = None,
    raise_on_failure: bool = True,
    quiet: bool = False,
    node_tasks: bool = False,
    extra_vars: dict[str, object] | None = None,
    target: str | None = None,
    write_manifest: bool = True,
) -> DbtRunSummary:
    """Run `dbt <args>` in-process against `settings.warehouse_path` and summarise it.

    `node_tasks=True` runs dbt through prefect-dbt's `PrefectDbtRunner`, which (inside a Prefect flow)
    makes every dbt node its own Prefect task run with its status as dbt reports it.

    `target_path` separates the artifacts of different warehouses (tests, benchmarks); by default they
    go to `<data dir>/dbt_target` so the repository stays clean. `extra_vars` adds project variables to
    the ones the configuration sets (e.g. `full_data_tests`). `target` names a profiles.yml output
    (`spark`); the default is the DuckDB warehouse. `write_manifest=False` keeps the manifest.json of
    an earlier run of the same project (dbt's `--no-write-json`: serialising the manifest twice costs
    about 0.5 s a run) and writes only run_results.json.
    """
    import json

    from dbt.cli.main import dbtRunner

    settings.warehouse_path.parent.mkdir(parents=True, exist_ok=True)
    artifacts = artifacts_dir(settings, target_path, target)
    takes_vars = bool(args) and args[0] in {"build", "run", "test", "seed", "compile", "docs", "show"}
    command = [
        *(["--quiet"] if quiet else []),
        *args,
        *(["--vars", json.dumps({**json.loads(dbt_vars(settings)), **(extra_vars or {})})] if takes_vars else []),
        *(["--target", target] if target else []),
        *([] if write_manifest else ["--no-write-json"]),
        "--project-dir",
        str(PROJECT_ROOT),
        "--profiles-dir",
        str(PROFILES_DIR),
        "--target-path",
        str(artifacts),
        "--log-path",
        str(settings.data_dir / "dbt_logs"),
    ]
    with _LOCK:
        saved = {k: os.environ.get(k) for k in dbt_env(settings)}
        os.environ.update(dbt_env(settings))
        try:
            result = _invoke_with_node_tasks(command) if node_tasks else dbtRunner().invoke(command)
        finally:
            _release_duckdb()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    if not write_manifest:
        from dbt.artifacts.schemas.run import RunExecutionResult

        if isinstance(result.result, RunExecutionResult):
            result.result.write(str(artifacts / "run_results.json"))
    summary = DbtRunSummary(command=list(args), success=bool(result.success))
    if result.exception is not None:
        summary.error = str(result.exception)
    # Node results (run-operation's have no node).
    nodes = [item for item in getattr(result.result, "results", None) or [] if hasattr(item, "node")]
    summary.results = list(nodes)
    for item in nodes:
        node = item.node
        status = str(item.status)
        compiled = getattr(node, "compiled_code", None)
        flagged = str(node.resource_type) == "test" and status in ("fail", "warn") and compiled
        summary.nodes.append(
            NodeResult(
                unique_id=node.unique_id,
                name=node.name,
                resource_type=str(node.resource_type),
                status=status,
                failures=item.failures,
                message=item.message,
                execution_time=float(item.execution_time or 0.0),
                examples=_offending_rows(settings.warehouse_path, str(compiled)) if flagged and not target else (),
            )
        )
    wants_nodes = args and args[0] in {"build", "run", "test", "seed"}
    if wants_nodes and not summary.nodes and summary.error is None:
        summary.success = False
        summary.error = f"dbt {' '.join(args)} selected no nodes"
    if raise_on_failure and not summary.success:
        raise DbtBuildError(summary)
    return summary


@dataclass(frozen=True)
class SourceFreshness:
    """One source table's freshness as `dbt source freshness` judged it (limits in _market__sources.yml)."""

    source: str  # e.g. market.daily_ohlcv
    status: str  # pass, warn, error, runtime error
    max_loaded_at: str | None
    age_hours: float | None

    def describe(self) -> str:
        if self.age_hours is None:
            return f"{self.source}: {self.status}"
        return f"{self.source}: {self.status}, last loaded {self.max_loaded_at} UTC ({self.age_hours:.1f} h ago)"


def source_freshness(settings: Settings, *, target_path: Path | None = None) -> list[SourceFreshness]:
    """`dbt source freshness`: how long ago each raw source was last loaded. Never raises on a stale
    source (that is a finding to report); raises DbtBuildError only when dbt itself could not run."""
    summary = run_dbt(["source", "freshness"], settings, target_path=target_path, raise_on_failure=False, quiet=True)
    if not summary.results and summary.error:
        raise DbtBuildError(summary)
    found = []
    for item in summary.results:
        node = item.node
        if str(node.resource_type) != "source":  # the on-run-end hook reports as a node too
            continue
        age = getattr(item, "age", None)
        loaded = getattr(item, "max_loaded_at", None)
        found.append(
            SourceFreshness(
                source=f"{node.source_name}.{node.name}",
                status=str(item.status),
                max_loaded_at=f"{loaded:%Y-%m-%d %H:%M}" if loaded else None,
                age_hours=None if age is None else float(age) / 3600,
            )
        )
    return sorted(found, key=lambda f: f.source)


EXAMPLE_ROWS = 5
_KEY_COLUMNS = ("symbol", "date", "source", "rule", "portfolio", "model_version")


def _offending_rows(warehouse: Path, compiled_sql: str, limit: int = EXAMPLE_ROWS) -> tuple[str, ...]:
    """The first rows a failing data test returned, as short strings naming their keys (symbol, date, ...):
    a failure must say which bars broke the rule, not only how many. Best effort: () if it can't be read."""
    import duckdb

    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error:
        return ()
    try:
        failing = con.sql(f"select * from ({compiled_sql.strip().rstrip(';')}) as failing")
        columns = list(failing.columns)
        keys = [c for c in _KEY_COLUMNS if c in columns] or columns[:3]
        rows = failing.order(", ".join(f'"{k}"' for k in keys)).limit(int(limit)).fetchall()
    except duckdb.Error:
        return ()
    finally:
        con.close()
    return tuple(" ".join(str(row[columns.index(k)]) for k in keys) for row in rows)


def _invoke_with_node_tasks(command: list[str]):
    from dbt_common.events.base_types import EventLevel
    from prefect_dbt import PrefectDbtRunner, PrefectDbtSettings

    runner = PrefectDbtRunner(
        # dbt's own log lines go to the flow's log from WARN up (warnings and errors); each node's status
        # is its task run's state.
        settings=PrefectDbtSettings(project_dir=PROJECT_ROOT, profiles_dir=PROFILES_DIR, log_level=EventLevel.WARN),
        raise_on_failure=False,
        disable_assets=True,
    )
    before = set(threading.enumerate())
    try:
        return runner.invoke(command)
    except ValueError as exc:  # prefect-dbt raises on an exception inside dbt; report it like dbtRunner
        from dbt.cli.main import dbtRunnerResult

        return dbtRunnerResult(success=False, exception=exc)
    finally:
        _join_node_task_threads(before, NODE_TASK_JOIN_SECONDS)


def _join_node_task_threads(before: set[threading.Thread], timeout: float) -> None:
    """prefect-dbt runs each node's task run in a daemon thread (named after its target, `run_task`) and
    returns without waiting for them. Join them: after a failed build the flow fails at once, and task
    runs still starting while the interpreter exits make Prefect abort the process (exit 134 instead of
    the failure's own message and code)."""
    deadline = time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread not in before and thread.name.endswith("(run_task)"):
            thread.join(max(0.0, deadline - time.monotonic()))


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
) -> DbtRunSummary:
    """`dbt build`: seeds, models, data tests and unit tests, in DAG order; `select` (node selection
    syntax) or `selector` (a name in selectors.yml) narrows it.

    The incremental models bake the project variables in (the market series, the universe minimum) and
    their columns (a new feature must be computed for every past row), so a build whose variables or
    feature catalogue differ from the last successful one on this warehouse rebuilds in full.

    Unit tests and the macro fixture tests (selector `sql_tests`) test the SQL, not the data; seeds change
    only with the project's files, and the views (selector `project_views`) with those files and, for
    the stg_ml__ views, with which of the Python side's tables exist (`python_side_tables`). A stage
    whose unit tests passed on this warehouse with the same project files (`sql_fingerprint`) and the
    same Python-side tables skips those tests and neither reloads the seeds nor recreates the views, as
    dbt advises for production runs (build what changed); the stage's `*_nightly` selector says what
    is left. A full refresh, a `select`, any change to the SQL, the seeds, the project files, the dbt
    and DuckDB versions or the Python-side tables, and a view missing from the warehouse
    (`views_missing`) run them all.

    Data tests whose verdict is per date read only the dates that changed since their last pass
    (macros/get_where_subquery.sql); `full_data_tests` (or a full refresh) makes every test read
    everything.

    `target="spark"` builds the same project on Spark (profiles.yml): the warehouse's source tables are
    exported to the lake (featurecast/lake.py) and declared to Spark first."""
    import json

    args = ["build"]
    vars_file = settings.warehouse_path.with_name(settings.warehouse_path.name + ".dbt_vars.json")
    previous = vars_file.read_text() if vars_file.exists() else None
    current = build_fingerprint(settings)
    # No record yet on an existing warehouse (built before this check existed): rebuild once, to be safe.
    if full_refresh or (target is None and previous != current and settings.warehouse_path.exists()):
        args.append("--full-refresh")
    if target is not None:
        from featurecast.lake import export_sources, lake_dir

        tables = export_sources(settings)
        register = json.dumps({"lake": str(lake_dir(settings)), "tables": tables})
        run_dbt(["run-operation", "register_lake_tables", "--args", register], settings, quiet=True, target=target)
    unit_file = settings.warehouse_path.with_name(settings.warehouse_path.name + ".unit_tested.json")
    stage = f"{target}:{selector or 'all'}" if target else selector or "all"
    try:
        unit_tested: dict[str, str] = json.loads(unit_file.read_text()) if unit_file.exists() else {}
    except ValueError:
        unit_tested = {}  # an unreadable record only means the unit tests run again
    # What the SQL tests and the views depend on: the project's files and which Python-side tables exist.
    code = sql_fingerprint() + " " + ",".join(python_side_tables(settings))
    skip_unit_tests = not select and "--full-refresh" not in args and unit_tested.get(stage) == code
    manifest = artifacts_dir(settings, target_path) / "manifest.json"
    if skip_unit_tests and target is None and views_missing(settings, manifest):
        skip_unit_tests = False  # recreate the views (and so run the SQL checks once more)
    if skip_unit_tests:
        args += ["--exclude-resource-type", "unit_test", "--exclude-resource-type", "seed"]
    if select:
        args += ["--select", select]
    chosen = NIGHTLY_SELECTORS.get(selector, selector) if skip_unit_tests else selector
    if chosen:
        args += ["--selector", chosen]
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
        write_manifest=not (skip_unit_tests and target is None and not node_tasks),
    )
    if summary.success and not select and selector in (None, FEATURES_SELECTOR) and target is None:
        vars_file.write_text(current)
    if summary.success and not select and not skip_unit_tests:
        unit_file.write_text(json.dumps({**unit_tested, stage: code}, indent=2, sort_keys=True))
    return summary
