"""The `featurecast` command as an operator uses it: exit codes and messages."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from featurecast.cli import main


@pytest.fixture()
def env(tmp_path, monkeypatch):
    monkeypatch.setenv("FEATURECAST_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("FEATURECAST_WAREHOUSE", raising=False)
    monkeypatch.setenv("FEATURECAST_SYNTHETIC_SYMBOLS", "4")
    monkeypatch.setenv("FEATURECAST_SYNTHETIC_YEARS", "1.5")
    monkeypatch.setenv("ALPHAVANTAGE_API_KEY", "TOPSECRET")
    return tmp_path


def test_rejected_input_exits_2_and_says_nothing_was_written(env, capsys) -> None:
    bad = env / "ibm.csv"
    bad.write_text("timestamp,open,high,low,close,volume\n2024-06-07,1,2,0.5,abc,100\n")
    assert main(["ingest", "csv", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "input rejected, nothing was written" in err and "non-numeric value(s) in column 'close'" in err
    assert not (env / "warehouse.duckdb").exists()


def test_config_never_prints_secrets(env, capsys) -> None:
    assert main(["config"]) == 0
    out = capsys.readouterr().out
    assert "TOPSECRET" not in out and "alphavantage_api_key = (set)" in out
    assert f"warehouse_path = {env / 'warehouse.duckdb'}" in out


@pytest.mark.dbt
def test_run_builds_the_features_and_a_second_landing_changes_nothing(env, capsys) -> None:
    assert main(["run"]) == 0
    out = capsys.readouterr().out
    features_line = next(line for line in out.splitlines() if "marts.fct_daily_features" in line)
    assert "1,512 rows" in features_line  # 4 symbols x 378 sessions
    assert "guardrail findings:" in out and "stale symbols: none" in out
    # 1.5 years is too little history for walk-forward training: said plainly, features still built.
    assert "signals skipped: not enough history" in out
    # Running it again lands nothing new (the whole flow run twice is tests/python/test_flows.py's).
    assert main(["ingest", "synthetic"]) == 0
    assert "0 inserted, 0 updated, 1512 unchanged" in capsys.readouterr().out
    assert main(["sql", "select count(*) as n from marts.fct_daily_features"]) == 0
    assert "1512" in capsys.readouterr().out


@pytest.mark.dbt
def test_structural_failure_exits_1_naming_the_rule(env, capsys) -> None:
    assert main(["ingest", "synthetic", "--defects"]) == 0
    assert main(["build"]) == 1
    err = capsys.readouterr().err
    assert "guardrail_ohlc_consistency: fail" in err


@pytest.mark.dbt
def test_training_without_enough_history_exits_4_not_ready(env, capsys) -> None:
    assert main(["ingest", "synthetic"]) == 0
    from dbt_project.runner import build
    from featurecast.config import Settings

    build(Settings.from_env(), quiet=True)
    assert main(["signals", "train"]) == 4
    assert "need at least 252" in capsys.readouterr().err


def test_console_script_is_installed() -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "featurecast"), "--help"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0 and "ingest" in done.stdout and "release" in done.stdout


def test_sql_without_a_warehouse_says_so(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("FEATURECAST_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("FEATURECAST_WAREHOUSE", raising=False)
    assert main(["sql", "select 1"]) == 4
    assert "no warehouse at" in capsys.readouterr().err
    assert not (tmp_path / "warehouse.duckdb").exists()
