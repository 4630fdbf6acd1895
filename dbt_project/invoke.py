"""Invoking dbt in-process: the one place featurecast calls dbt.

`run_dbt` sets the environment dbt's profile reads (FEATURECAST_WAREHOUSE), runs dbt in-process through
`dbtRunner` (or prefect-dbt's runner, which makes every node a Prefect task run), and turns the result
into a `DbtRunSummary` that names every failing or warning node, with the first offending rows of a
failing data test. dbt "succeeds" with zero results when a selector matches nothing, so an empty result
is an error here. DuckDB allows one writer: callers must not hold the warehouse open while dbt runs.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dbt_project.plan import StagePlan
from featurecast.config import PROJECT_ROOT, Settings

PROFILES_DIR = PROJECT_ROOT  # profiles.yml sits at the root, where users type `dbt build`
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
    plan: StagePlan | None = None  # what the stage was planned to do, and why (dbt_project/plan.py)

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

    return json.dumps({"market_series": settings.market_series, "min_universe_symbols": settings.min_universe_symbols})


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
    progress: str | None = None,
) -> DbtRunSummary:
    """Run `dbt <args>` in-process against `settings.warehouse_path` and summarise it.

    `progress` names the work in progress lines (featurecast.progress: nodes done of all, and an
    estimate, every 10 s; a run shorter than that prints none).

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
        "--log-level-file",
        settings.dbt_log_level,
    ]
    with _LOCK:
        saved = {k: os.environ.get(k) for k in dbt_env(settings)}
        os.environ.update(dbt_env(settings))
        try:
            callbacks = [_node_progress(progress)] if progress else []
            result = _invoke_with_node_tasks(command) if node_tasks else dbtRunner(callbacks=callbacks).invoke(command)
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


def _node_progress(what: str) -> Callable[[Any], None]:
    """A dbt event callback reporting nodes finished of all selected (`total` of dbt's result lines)."""
    from featurecast.progress import Progress

    tracker = Progress(what, total=0)

    def on_event(event: Any) -> None:
        name = event.info.name
        if name == "LogStartLine" and not tracker.total:  # the clock starts with the first node, not parsing
            tracker.started = tracker.last_report = time.monotonic()
        if name in ("LogStartLine", "LogModelResult", "LogSeedResult"):
            tracker.total = max(tracker.total, float(event.data.total))
        elif name == "LogTestResult":
            tracker.total = max(tracker.total, float(event.data.num_models))
        elif name == "NodeFinished" and tracker.total:
            tracker.advance(step=f"{int(tracker.done) + 1} of {int(tracker.total)} nodes")

    return on_event


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
