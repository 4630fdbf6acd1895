"""The Prefect flows: a structural guardrail failure stops daily_refresh before training and names the rule;
two runs give the same tables; and a scheduled deployment fires on a real local Prefect server."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import httpx
import pandas as pd
import pytest

from featurecast.marketdata.landing import land
from featurecast.marketdata.synthetic import DefectSpec, SyntheticSpec, generate, inject_defects
from tests.python.conftest import SMALL_SPEC

pytestmark = pytest.mark.dbt

FLOW_ENV = {
    "FEATURECAST_SYNTHETIC_SYMBOLS": str(SMALL_SPEC.n_symbols),
    "FEATURECAST_SYNTHETIC_YEARS": str(SMALL_SPEC.years),
    "FEATURECAST_SYNTHETIC_SEED": str(SMALL_SPEC.seed),
}


@pytest.fixture(scope="module")
def prefect_server():
    """A temporary Prefect API for this module's flow runs (so their task runs can be read back)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


def use_data_dir(monkeypatch: pytest.MonkeyPatch, data_dir: Path) -> None:
    monkeypatch.setenv("FEATURECAST_DATA_DIR", str(data_dir))
    monkeypatch.delenv("FEATURECAST_WAREHOUSE", raising=False)
    monkeypatch.delenv("MONGODB_URI", raising=False)
    for key, value in FLOW_ENV.items():
        monkeypatch.setenv(key, value)


def task_run_states(flow_run_id, wait_for: str, seconds: float = 90) -> dict[str, str]:
    """Task run name -> state of a flow run, once `wait_for` is recorded (task states reach the API as events)."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    deadline = time.monotonic() + seconds
    with get_client(sync_client=True) as client:
        while True:
            runs = client.read_task_runs(flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])))
            states = {run.name: run.state.type.value for run in runs if run.state}
            if states.get(wait_for) in ("FAILED", "COMPLETED") or time.monotonic() > deadline:
                return states
            time.sleep(0.5)


def dbt_nodes_artifact(flow_run_id, key: str) -> dict[str, tuple[str, int]]:
    """The table artifact a dbt stage of the flow run published: node -> (status, rows)."""
    import json

    from prefect import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                key=ArtifactFilterKey(any_=[key]), flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id])
            )
        )
    assert found, f"no {key} artifact"
    rows = found[0].data if isinstance(found[0].data, list) else json.loads(found[0].data)
    return {row["node"]: (row["status"], row["rows"]) for row in rows}


def test_a_structural_failure_stops_the_flow_before_training_and_names_the_rule(prefect_server, tmp_path, monkeypatch):
    from dbt_project.runner import DbtBuildError
    from flows.daily_refresh import daily_refresh

    use_data_dir(monkeypatch, tmp_path)
    prices, _ = inject_defects(
        generate(SyntheticSpec(n_symbols=4, years=1.5, seed=5)).prices,
        DefectSpec(gaps=0, spikes=0, volume_spikes=0, stale_runs=0, ohlc_inconsistent=2, duplicates=0),
    )
    land(tmp_path / "warehouse.duckdb", prices, source="synthetic")

    state = daily_refresh(source="none", return_state=True)

    assert state.is_failed()
    error = state.result(raise_on_failure=False)
    assert isinstance(error, DbtBuildError)
    assert "guardrail_ohlc_consistency" in str(error) and "(2 rows)" in str(error)
    states = task_run_states(state.state_details.flow_run_id, "dbt build: features and guardrails")
    assert states["dbt build: features and guardrails"] == "FAILED"  # the stage is a task run
    nodes = dbt_nodes_artifact(state.state_details.flow_run_id, "dbt-features")  # every node's status
    assert nodes["test guardrail_ohlc_consistency"] == ("fail", 2)
    assert nodes["model fct_daily_features"][0] == "skipped"  # downstream of the failure
    for later in ("train signal models", "score signals", "refresh regimes", "backtest", "publish snapshot"):
        assert not any(name.startswith(later) for name in states), later

    # On request (`featurecast flow daily-refresh --node-tasks`), every dbt node is its own task run.
    state = daily_refresh(source="none", node_tasks=True, return_state=True)
    assert state.is_failed()
    states = task_run_states(state.state_details.flow_run_id, "test guardrail_ohlc_consistency")
    assert states["test guardrail_ohlc_consistency"] == "FAILED"
    assert states.get("model fct_daily_features") != "COMPLETED"
    assert not (tmp_path / "models").exists() and not (tmp_path / "serving").exists()
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from duckdb_tables() where schema_name = 'ml'").fetchone()[0] == 0
    finally:
        con.close()


def test_a_failed_flow_from_the_cli_exits_with_its_message_and_leaves_no_server(tmp_path):
    """The CLI process that ran a failing flow exits 1 with the rule named, not with Prefect's abort at
    interpreter exit (node task runs still starting; it happened in about half of such runs), and it
    leaves no temporary Prefect server behind."""
    prices, _ = inject_defects(
        generate(SyntheticSpec(n_symbols=4, years=1.5, seed=5)).prices,
        DefectSpec(gaps=0, spikes=0, volume_spikes=0, stale_runs=0, ohlc_inconsistent=2, duplicates=0),
    )
    land(tmp_path / "warehouse.duckdb", prices, source="synthetic")
    servers_before = _prefect_servers()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "MONGODB_URI"))}
    env |= {"FEATURECAST_DATA_DIR": str(tmp_path), "PREFECT_HOME": str(tmp_path / "prefect")}
    env.pop("FEATURECAST_WAREHOUSE", None)
    done = subprocess.run(
        [sys.executable, "-m", "featurecast.cli", "flow", "daily-refresh", "--source", "none"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    assert "featurecast: dbt build" in done.stderr and "guardrail_ohlc_consistency" in done.stderr
    assert "can't register atexit" not in output and "FATAL" not in output
    assert "Traceback" not in output  # the failure is reported once, as lines, never as a traceback
    time.sleep(1)
    assert _prefect_servers() <= servers_before


def test_sigterm_to_featurecast_run_stops_the_prefect_server_it_started(tmp_path):
    """Killing only the main process (SIGTERM, as a scheduler or `kill` does) leaves no server behind."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_API", "MONGODB_URI", "FEATURECAST_"))}
    env |= {
        "FEATURECAST_DATA_DIR": str(tmp_path),
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "FEATURECAST_SYNTHETIC_SYMBOLS": "4",
        "FEATURECAST_SYNTHETIC_YEARS": "1.5",
    }
    run = subprocess.Popen(
        [str(Path(sys.executable).parent / "featurecast"), "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        children: set[str] = set()
        while not children and time.monotonic() < deadline and run.poll() is None:
            found = subprocess.run(["pgrep", "-P", str(run.pid)], capture_output=True, text=True)
            children = set(found.stdout.split()) & _prefect_servers()
            time.sleep(0.2)
        assert children, "featurecast run started no temporary Prefect server"
        run.send_signal(signal.SIGTERM)
        _, err = run.communicate(timeout=60)
        assert run.returncode == 130 and "interrupted" in err and "Traceback" not in err
        deadline = time.monotonic() + 15
        while children & _prefect_servers() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not children & _prefect_servers()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()


def _prefect_servers() -> set[str]:
    """Process ids of temporary Prefect API servers running on this machine."""
    found = subprocess.run(["pgrep", "-f", "prefect.server.api.server:create_app"], capture_output=True, text=True)
    return set(found.stdout.split())


STATE_TABLES = {
    "marts.fct_daily_features": "symbol, date",
    "ml.signals": "symbol, date, model_version",
    "ml.forecasts": "portfolio, issue_date, horizon, model",
    "ml.regime_history": "scope, date",
    "ml.regime_in_sample": "scope, date, model_version",
    "ml.backtest_runs": "run_id",
    "ml.backtest_daily": "run_id, book, date",
    "ml.backtest_trades": "run_id, date, symbol",
    "ml.backtest_metrics": "run_id, book, metric",
    "marts.fct_forecast_evaluation": "portfolio, issue_date, horizon, model",
    "ml.model_registry": "model_version",
    "ml.portfolio_books": "portfolio, date",
    "marts.fct_portfolio_daily": "portfolio, date",
    "marts.fct_forecast_calibration_by_regime": "portfolio, model_version, horizon, regime",
}


def warehouse_counts(warehouse: Path) -> dict[str, tuple[int, int]]:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return {
            table: con.execute(f"select count(*), count(distinct ({key})) from {table}").fetchone()
            for table, key in STATE_TABLES.items()
        }
    finally:
        con.close()


COMPARED_MARTS = {
    "marts.fct_daily_features": "symbol, date",
    "marts.fct_market_features": "date",
    "marts.fct_daily_labels": "symbol, date",
    "marts.fct_training_set": "symbol, date",
    "marts.fct_price_quarantine": "symbol, date, rule",
    "marts.dim_symbols": "symbol",
    "marts.fct_portfolio_daily": "portfolio, date",
    "marts.fct_forecast_evaluation": "portfolio, issue_date, horizon, model",
    "marts.fct_forecast_calibration_by_regime": "portfolio, model_version, horizon, regime",
}


def read_marts(warehouse: Path) -> dict[str, object]:
    from tests.python.conftest import read_table

    return {table: read_table(warehouse, table, order) for table, order in COMPARED_MARTS.items()}


def test_nights_skip_what_is_unchanged_add_the_new_day_and_equal_a_full_rebuild(
    prefect_server, served_stack, tmp_path, monkeypatch
):
    """Night 1 brings a served warehouse up to date; night 2 has nothing new and skips every dbt stage,
    the scoring, the backtest, the snapshot and the analysts' copy, changing no table; night 3 has one new
    session and builds it incrementally, scoring only its rows. The marts then equal a full rebuild."""
    from dbt_project.runner import build
    from flows.daily_refresh import daily_refresh
    from ml.regimes.store import open_store
    from tests.python.conftest import make_settings
    from tests.python.test_incremental import assert_same_rows

    data = tmp_path / "data"
    shutil.copytree(served_stack.data_dir, data)
    use_data_dir(monkeypatch, data)
    warehouse = data / "warehouse.duckdb"

    first = daily_refresh(source="none")
    after_first = warehouse_counts(warehouse)
    copy = data / "analyst" / "warehouse.duckdb"
    copied_at, snapshot = copy.stat().st_mtime_ns, (data / "serving" / "CURRENT").read_text()
    marts_first = read_marts(warehouse)

    second = daily_refresh(source="none")
    assert warehouse_counts(warehouse) == after_first
    for table, frame in read_marts(warehouse).items():
        assert_same_rows(frame, marts_first[table], table)
    plan = "\n".join(second.plan)
    for step in (
        "dbt build: features and guardrails: skip (its sources and the project are unchanged since",
        "dbt build: portfolio books: skip",
        "dbt build: evaluation: skip",
        "score signals: skip (the champion's scores are current through",
        "backtest: skip",
        "publish snapshot: skip (nothing it serves changed tonight)",
    ):
        assert step in plan, plan
    assert second.wrote == [] and second.dbt == {}
    assert copy.stat().st_mtime_ns == copied_at and (data / "serving" / "CURRENT").read_text() == snapshot
    assert "tonight:" in second.text() and "dbt: nothing built tonight" in second.text()
    assert second.backtest["run_id"] == first.backtest["run_id"]
    assert second.signals["model_version"] == first.signals["model_version"]  # no retraining with a champion
    for part in ("source freshness: market.daily_ohlcv: pass", "market.load_batches: pass", "regime:"):
        assert part in second.text(), part

    # Night 3: one new session (each bar of the last day moved by +0.2 %).
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        last = con.sql(
            "select symbol, date, open, high, low, close, adjusted_close, volume from raw.daily_ohlcv "
            "qualify date = max(date) over ()"
        ).df()
        scored_before = con.sql("select symbol, date, scored_at from ml.signals order by all").df()
    finally:
        con.close()
    new_day = last.assign(date=(pd.Timestamp(last["date"].max()) + pd.offsets.BDay(1)).date())
    for column in ("open", "high", "low", "close", "adjusted_close"):
        new_day[column] = (new_day[column] * 1.002).round(4)
    land(warehouse, new_day, source="synthetic")
    third = daily_refresh(source="none")
    plan = "\n".join(third.plan)
    assert "dbt build: features and guardrails: run (new data in market.daily_ohlcv" in plan, plan
    assert "score signals: run (" in plan and "publish snapshot: run" in plan
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        scored_after = con.sql("select symbol, date, scored_at from ml.signals order by all").df()
    finally:
        con.close()
    old_rows = scored_after.merge(scored_before, on=["symbol", "date"], suffixes=("", "_before"))
    assert len(old_rows) == len(scored_before) and (old_rows["scored_at"] == old_rows["scored_at_before"]).all()
    assert len(scored_after) - len(scored_before) == new_day["symbol"].nunique()  # only the new day scored
    for table, (rows, keys) in warehouse_counts(warehouse).items():
        assert rows == keys, f"duplicate rows in {table}"

    (tmp_path / "full").mkdir()
    full = make_settings(tmp_path / "full")
    shutil.copy(warehouse, full.warehouse_path)
    build(full, full_refresh=True, quiet=True)
    rebuilt = read_marts(full.warehouse_path)
    for table, frame in read_marts(warehouse).items():
        if table.startswith("marts.fct_forecast"):
            # These round to 10 decimals (dbt unit tests compare exactly), and DuckDB's parallel sums are
            # not bit-for-bit repeatable: a value on a rounding boundary may move by one unit of the 10th.
            pd.testing.assert_frame_equal(
                frame.reset_index(drop=True), rebuilt[table].reset_index(drop=True), rtol=0, atol=1.5e-10, obj=table
            )
        else:
            assert_same_rows(frame, rebuilt[table], table)

    store, client = open_store(None, data / "mongo")
    try:
        documents = store.count("market")
        version = store.current_model("market")["model_version"]
        current = store.history("market", version, limit=100_000)
    finally:
        client.close()
    assert documents == warehouse_counts(warehouse)["ml.regime_history"][0]
    assert len(current) == len({d["date"] for d in current}) == store.count("market", version)


def _wait_for(url: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise TimeoutError(f"{url} did not answer within {seconds} s")


def test_a_scheduled_deployment_fires_on_a_local_prefect_server(served_stack, tmp_path, unused_port):
    """`prefect server start`, then the project's deployments served with a 5-second schedule in place of
    the daily cron; the scheduler creates a run and the served process completes it."""
    shutil.copytree(served_stack.data_dir, tmp_path / "data")
    api = f"http://127.0.0.1:{unused_port}/api"
    env = {
        **os.environ,
        **FLOW_ENV,
        "PREFECT_HOME": str(tmp_path / "prefect"),
        "PREFECT_API_URL": api,
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_SERVER_SERVICES_SCHEDULER_LOOP_SECONDS": "1",
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "FEATURECAST_DATA_DIR": str(tmp_path / "data"),
    }
    env.pop("MONGODB_URI", None)
    bin_dir = Path(sys.executable).parent
    server = subprocess.Popen(
        [str(bin_dir / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(unused_port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    serve_code = (
        "from datetime import timedelta\n"
        "from prefect import serve\n"
        "from prefect.schedules import Interval\n"
        "from flows.deployments import deployments\n"
        "serve(*deployments(daily=Interval(timedelta(seconds=5), parameters={'node_tasks': False})), limit=1)\n"
    )
    served = None
    try:
        _wait_for(f"{api}/health", 90)
        served = subprocess.Popen(
            [sys.executable, "-c", serve_code],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 240
        completed = None
        while time.monotonic() < deadline and completed is None:
            time.sleep(2)
            try:
                finished = {
                    state: httpx.post(
                        f"{api}/flow_runs/filter",
                        json={
                            "deployments": {"name": {"any_": ["daily-refresh"]}},
                            "flow_runs": {"state": {"type": {"any_": states}}},
                            "limit": 5,
                        },
                        timeout=10,
                    ).json()
                    for state, states in (("completed", ["COMPLETED"]), ("failed", ["FAILED", "CRASHED"]))
                }
            except httpx.TimeoutException:  # a busy machine's server answers late: ask again until the deadline
                continue
            assert not finished["failed"], finished["failed"][0]["state"]
            completed = finished["completed"][0] if finished["completed"] else None
        assert completed is not None, "no scheduled run of daily-refresh completed within 240 s"
        assert completed["auto_scheduled"] is True  # created by the server's scheduler, not by hand
        deployments = httpx.post(f"{api}/deployments/filter", json={}, timeout=10).json()
        crons = {d["name"]: [s["schedule"].get("cron") for s in d["schedules"]] for d in deployments}
        assert crons["weekly-training"] == ["0 6 * * 6"]
    finally:
        for process in (served, server):
            if process is not None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=30)


def test_a_run_with_source_none_says_it_ingested_nothing_not_batch_none() -> None:
    from flows.summary import RunSummary

    def first_line(ingested: dict[str, object]) -> str:
        summary = RunSummary(ingested, "", {}, [], None, None, [], None, {})
        return summary.text().splitlines()[0]

    assert first_line({"batch_id": None, "inserted": 0, "updated": 0, "unchanged": 0}).startswith(
        "ingested nothing: --source none"
    )
    assert first_line({"batch_id": "b1", "inserted": 3, "updated": 0, "unchanged": 1}) == (
        "ingested batch b1: 3 rows inserted, 0 updated, 1 unchanged"
    )
