"""Shared fixtures: settings pointing at temporary warehouses, and small built warehouses.

Building a warehouse means a real `dbt build` through dbt_project.runner, so these fixtures are
session-scoped and reused: one clean build, one with statistical defects, shared by many tests.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import replace
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from dbt_project.runner import EVALUATION_SELECTOR, PORTFOLIO_BOOKS_SELECTOR, DbtRunSummary, build
from featurecast.config import Settings
from featurecast.marketdata.landing import land
from featurecast.marketdata.synthetic import DefectSpec, SyntheticSpec, generate, inject_defects

os.environ.setdefault("DO_NOT_TRACK", "1")
# pytest-xdist runs the files in two worker processes (pyproject.toml). Each worker gets its own Prefect
# home, so the temporary Prefect servers of flows called in tests do not share one SQLite database.
# (Prefect reads it when first imported, after this file.) Prefect creates its home without parents, so
# on a machine that never ran Prefect (no ~/.prefect) the worker's home is created here, or its server
# cannot start.
if worker := os.environ.get("PYTEST_XDIST_WORKER"):
    _prefect_home = Path(os.environ.get("PREFECT_HOME", Path.home() / ".prefect")) / f"xdist-{worker}"
    _prefect_home.mkdir(parents=True, exist_ok=True)
    os.environ["PREFECT_HOME"] = str(_prefect_home)

# Every service the app registers in its ServiceFactory, by name.
SERVICES = [
    "BacktestService",
    "DashboardService",
    "FeatureService",
    "ForecastService",
    "MLSignalService",
    "PortfolioService",
    "RegimeService",
]

# Small but long enough for every window (252-row returns, 63-row guardrail training windows).
SMALL_SPEC = SyntheticSpec(n_symbols=10, years=3.0, seed=21)
# Statistical defects only: the build passes with warnings and the quarantine table is built.
STATISTICAL_DEFECTS = DefectSpec(gaps=4, spikes=4, volume_spikes=2, stale_runs=2, ohlc_inconsistent=0, duplicates=3)


def make_settings(directory: Path) -> Settings:
    """Settings whose warehouse and artifacts live under `directory`."""
    located = Settings.from_env().with_warehouse(directory / "warehouse.duckdb")
    return replace(located, alphavantage_api_key=None, mongodb_uri=None)


def read_table(warehouse: Path, table: str, order: str = "symbol, date") -> pd.DataFrame:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        return con.execute(f"select * from {table} order by {order}").df()
    finally:
        con.close()


def warehouse_state(warehouse: Path) -> dict[str, object]:
    """Everything a failed load must leave unchanged: raw rows and the batch log (or no file at all)."""
    if not warehouse.exists():
        return {"exists": False}
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = {
            t
            for (t,) in con.execute(
                "select table_schema || '.' || table_name from information_schema.tables"
            ).fetchall()
        }
        state: dict[str, object] = {"exists": True, "tables": sorted(tables)}
        for table in ("raw.daily_ohlcv", "raw.load_batches"):
            if table in tables:
                state[table] = con.execute(f"select * from {table} order by all").fetchall()
        return state
    finally:
        con.close()


class BuiltWarehouse:
    """A warehouse after ingestion and a dbt build, with what went into it."""

    def __init__(
        self,
        settings: Settings,
        summary: DbtRunSummary,
        prices: pd.DataFrame,
        defects: pd.DataFrame | None = None,
        load_report=None,
    ) -> None:
        self.settings = settings
        self.summary = summary
        self.prices = prices
        self.defects = defects
        self.load_report = load_report

    @property
    def path(self) -> Path:
        return self.settings.warehouse_path

    def table(self, name: str, order: str = "symbol, date") -> pd.DataFrame:
        return read_table(self.path, name, order)


@pytest.fixture(scope="session")
def clean_warehouse(tmp_path_factory: pytest.TempPathFactory) -> BuiltWarehouse:
    settings = make_settings(tmp_path_factory.mktemp("clean"))
    prices = generate(SMALL_SPEC).prices
    report = land(settings.warehouse_path, prices, source="synthetic")
    summary = build(settings, raise_on_failure=False)
    return BuiltWarehouse(settings, summary, prices, load_report=report)


@pytest.fixture(scope="session")
def defect_warehouse(tmp_path_factory: pytest.TempPathFactory) -> BuiltWarehouse:
    settings = make_settings(tmp_path_factory.mktemp("defects"))
    prices, defects = inject_defects(generate(SMALL_SPEC).prices, STATISTICAL_DEFECTS)
    report = land(settings.warehouse_path, prices, source="synthetic")
    summary = build(settings, raise_on_failure=False)
    return BuiltWarehouse(settings, summary, prices, defects, load_report=report)


@pytest.fixture(scope="session")
def served_stack(clean_warehouse, tmp_path_factory) -> Settings:
    """The clean warehouse with everything the API serves: a champion signal model, 20 scored sessions,
    refreshed regimes, issued and evaluated forecasts, a backtest, and a published snapshot (lightgbm only, 2 folds,
    to keep the suite quick)."""
    import shutil

    from flows.publish import publish_snapshot
    from ml.backtest.run import run_backtest
    from ml.forecasts.issue import issue_forecasts
    from ml.regimes.refresh import refresh_regimes
    from ml.regimes.store import open_store
    from ml.signals.cv import WalkForward
    from ml.signals.score import score_latest
    from ml.signals.train import train_signal_models

    settings = make_settings(tmp_path_factory.mktemp("served"))
    shutil.copy(clean_warehouse.path, settings.warehouse_path)
    train_signal_models(
        settings.warehouse_path,
        settings.models_dir,
        families=("lightgbm",),
        promote_best=True,
        cv=WalkForward(n_folds=2, embargo_dates=5, min_train_dates=252),
    )
    score_latest(settings.warehouse_path, last_dates=20)
    store, client = open_store(None, settings.regime_store_dir)
    refresh_regimes(settings.warehouse_path, store)
    client.close()
    run_backtest(settings.warehouse_path, samples=200)
    build(settings, selector=PORTFOLIO_BOOKS_SELECTOR, quiet=True)
    issue_forecasts(settings.warehouse_path)
    build(settings, selector=EVALUATION_SELECTOR, quiet=True)
    publish_snapshot(settings.warehouse_path, settings.serving_dir)
    return settings


@pytest.fixture()
def unused_port() -> int:
    """A free TCP port on the loopback interface."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# A process that dies like SIGKILL (os._exit: no cleanup, no finally) at the n-th call of one file
# operation (os.fsync, os.replace), to prove a publish is crash-safe at every step.
_DIE_AT = """
import os, sys
operation, nth, calls = sys.argv[1], int(sys.argv[2]), []
original = getattr(os, operation)
def dying(*args, **kwargs):
    calls.append(1)
    if len(calls) == nth:
        os._exit(9)
    return original(*args, **kwargs)
setattr(os, operation, dying)
"""


def run_killed_at(operation: str, nth: int, statement: str, *args: str):
    """Run `statement` (sys.argv[3:] are `args`) in a child killed at the `nth` call of os.`operation`."""
    import subprocess
    import sys

    return subprocess.run(
        [sys.executable, "-c", _DIE_AT + statement, operation, str(nth), *args],
        capture_output=True,
        text=True,
        check=False,
    )


# --- the CLI as an operator types it -------------------------------------------------------------------


@pytest.fixture()
def env(tmp_path, monkeypatch):
    """A data directory with a small landed warehouse, the working directory beside it."""
    data = tmp_path / "data"
    monkeypatch.setenv("FEATURECAST_DATA_DIR", str(data))
    monkeypatch.delenv("FEATURECAST_WAREHOUSE", raising=False)
    monkeypatch.setenv("FEATURECAST_LOCK_TIMEOUT_SECONDS", "1")
    monkeypatch.chdir(tmp_path)
    land(data / "warehouse.duckdb", generate(SyntheticSpec(n_symbols=3, years=0.2, seed=3)).prices, source="synthetic")
    return data


def files(directory: Path) -> list[str]:
    """Every file under `directory` but the writer lock's own file (a reader of the live warehouse takes it)."""
    return sorted(p.name for p in directory.rglob("*") if not p.name.endswith(".lock"))


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """`featurecast ARGV` in this process: (exit code, stdout, stderr)."""
    from featurecast.cli import main

    try:
        code = main(argv)
    except SystemExit as exc:  # argparse's usage errors
        code = exc.code
    out, err = capsys.readouterr()
    return int(code), out, err
