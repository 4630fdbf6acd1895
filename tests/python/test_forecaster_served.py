"""The forecaster a trader sees is the one the API serves: the run summary and the backtest's risk gate use
each (portfolio, horizon)'s champion (or the baseline before any has matured), and name it; no forecaster
name is written as a literal outside the registry (`ml/forecasts/`) and the selection rule."""

from __future__ import annotations

import re

import duckdb
import pytest

from featurecast.config import PROJECT_ROOT
from featurecast.marts import DuckDBMarts
from ml.forecasts.champions import served, served_forecasters
from ml.forecasts.names import BASELINE, MODELS

SOURCES = ("featurecast", "ml", "flows", "dbt_project", "bench", "models", "macros")
SELECTION_RULE = PROJECT_ROOT / "models" / "marts" / "forecasting" / "fct_forecaster_selection.sql"
ALLOWED = (PROJECT_ROOT / "ml" / "forecasts", SELECTION_RULE)


def test_no_forecaster_name_is_a_literal_outside_the_registry() -> None:
    quoted = re.compile("[\"'](" + "|".join(MODELS) + ")[\"']")
    assert quoted.search(f"model = '{MODELS[1]}'")  # the pattern finds what it looks for
    found = []
    for top in SOURCES:
        for path in sorted((PROJECT_ROOT / top).rglob("*")):
            if path.suffix not in (".py", ".sql", ".js") or any(path.is_relative_to(a) for a in ALLOWED):
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if quoted.search(line):
                    found.append(f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}")
    assert found == []


@pytest.mark.dbt
def test_the_summary_shows_the_forecaster_the_api_serves(served_stack) -> None:
    from flows.summary import _served_forecasts

    warehouse = served_stack.warehouse_path
    choices = served_forecasters(DuckDBMarts(warehouse))
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        rows = _served_forecasts(con, choices)
        champions = dict(
            ((p, int(h)), m)
            for p, h, m in con.execute(
                "select portfolio, horizon, model from marts.fct_forecaster_selection where is_champion"
            ).fetchall()
        )
        newest = {
            (p, int(h))
            for p, h in con.execute(
                "select distinct portfolio, horizon from ml.forecasts "
                "qualify issue_date = max(issue_date) over (partition by portfolio)"
            ).fetchall()
        }
    finally:
        con.close()
    assert champions, "the served stack has evaluated forecasts and champions"
    assert {(r["portfolio"], int(r["horizon"])) for r in rows} == newest  # one line per (portfolio, horizon)
    for row in rows:
        key = (row["portfolio"], int(row["horizon"]))
        assert row["model"] == champions.get(key, BASELINE)
        assert row["why"].startswith("champion" if key in champions else "baseline")
    # a book that ends before the data says when its forecast is from, and a passed target is not projected
    from flows.summary import _forecast_lines

    behind = [r for r in rows if r["behind_data"]]
    assert behind and {r["portfolio"] for r in behind} == {"signal_strategy"}
    assert all(r["behind_data"] is None for r in rows if r["portfolio"] == "equal_weight")
    lines = _forecast_lines(rows)
    book = [line for line in lines if line.startswith("forecast signal_strategy")]
    assert book and all("days before the data" in line for line in book)
    passed = [r for r in behind if r["target_date"] <= str(r["data_last_date"])]
    assert sum("has passed: scored in the forecast evaluation, not a projection" in line for line in book) == len(
        passed
    )


@pytest.mark.dbt
def test_the_risk_gate_reads_the_served_champion_and_says_so(served_stack) -> None:
    from ml.backtest.engine import StrategyConfig
    from ml.backtest.run import run_backtest

    warehouse = served_stack.warehouse_path
    expected = served(served_forecasters(DuckDBMarts(warehouse)), "equal_weight", 5).model
    report = run_backtest(warehouse, StrategyConfig(risk_gate_q05=-0.05), samples=50)
    assert report.risk_gate_forecaster == expected
    chosen = next(m for m in MODELS if m != expected)
    asked = run_backtest(warehouse, StrategyConfig(risk_gate_q05=-0.05, risk_gate_forecaster=chosen), samples=50)
    assert asked.risk_gate_forecaster == chosen and asked.run_id != report.run_id
    assert run_backtest(warehouse, samples=50).risk_gate_forecaster is None  # no gate, nothing named
