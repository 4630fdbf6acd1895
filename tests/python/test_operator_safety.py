"""A careless operator at the CLI: nothing destroys or leaks data, and every failure is one line.

What each hostile input gets:
| input                                                   | exit | what is printed (stderr, one line)          |
| `sql` that writes, exports, attaches, loads, sets       | 3    | "sql only reads: <kind> statements are refused" |
| `sql` reading a file (read_csv('/etc/passwd'))          | 3    | "query failed: Permission Error ..."        |
| `sql ""`, a syntax error, an unknown table              | 3    | "sql needs a query" / "query failed: ..."   |
| a bad argument (negative count, nan, 0 years, bad date) | 3    | "<command>: argument --x: must be ..."      |
| an unknown model version to promote                     | 3    | "no model version ...; known versions ..." |
| a command that needs a warehouse before there is one    | 4    | "no warehouse at ...: run `featurecast run`" |
| a writer while another holds the warehouse              | 5    | "... is busy: `<command>` (pid ...) holds it" |
| an unexpected exception                                 | 70   | "unexpected error (...); the traceback is in <log>" |
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

from featurecast.cli import build_parser
from featurecast.cli.errors import ExitCode
from featurecast.marketdata.landing import land
from featurecast.marketdata.synthetic import SyntheticSpec, generate
from featurecast.warehouse_lock import current_holder, holds_lock, warehouse_lock
from tests.python.conftest import digest, files, run, run_killed_at

EXIT_CODES = {int(code) for code in ExitCode}


ESCAPES = [
    ("copy raw.daily_ohlcv to 'leak.csv'", "copy statements are refused"),
    ("copy (select 'x') to '{warehouse}' (format csv)", "copy statements are refused"),
    ("export database 'dump'", "export statements are refused"),
    ("attach 'other.duckdb' (READ_WRITE)", "attach statements are refused"),
    ("install httpfs", "load statements are refused"),
    ("load httpfs", "load statements are refused"),
    ("pragma enable_profiling", "pragma statements are refused"),
    ("pragma profiling_output = 'profile.txt'", "set statements are refused"),
    ("set threads = 1", "set statements are refused"),
    ("checkpoint", "call statements are refused"),
    ("create table raw.x as select 1", "create statements are refused"),
    ("delete from raw.daily_ohlcv", "delete statements are refused"),
    ("select 1; drop table raw.daily_ohlcv", "drop statements are refused"),
    ("select * from read_csv('/etc/passwd')", "Permission Error"),
    ("select * from read_blob('/etc/hostname')", "Permission Error"),
    ("", "sql needs a query"),
    ("selec 1", "query failed: Parser Error"),
]


@pytest.mark.parametrize(("query", "message"), ESCAPES)
def test_sql_refuses_every_escape_and_changes_nothing(env, capsys, query, message) -> None:
    warehouse = env / "warehouse.duckdb"
    before, files_before = digest(warehouse), files(env.parent)
    code, out, err = run(["sql", query.format(warehouse=warehouse)], capsys)
    assert code == ExitCode.USAGE and message in err and out == ""
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert digest(warehouse) == before
    assert files(env.parent) == files_before  # no file written anywhere


@pytest.mark.parametrize(
    "query",
    [
        "select count(*) as n from raw.daily_ohlcv",
        "describe raw.daily_ohlcv",
        "show tables",
        "summarize raw.daily_ohlcv",
        "explain select 1",
        "from raw.daily_ohlcv limit 1",
        "select 1 as a; select 2 as b",
    ],
)
def test_sql_runs_what_only_reads(env, capsys, query) -> None:
    code, out, err = run(["sql", query], capsys)
    assert code == 0, err
    assert out.strip() and "Traceback" not in err


def test_sql_reads_the_analysts_copy_once_a_writer_published_it(env, capsys) -> None:
    # Landing through the CLI is a writer: it publishes the analysts' copy when it finishes.
    assert run(["ingest", "synthetic", "--symbols", "2", "--years", "0.1", "--seed", "5"], capsys)[0] == 0
    copy = env / "analyst" / "warehouse.duckdb"
    assert digest(copy) == digest(env / "warehouse.duckdb")
    code, out, err = run(["sql", "select count(*) || ' batches' from raw.load_batches"], capsys)
    assert code == 0 and "analysts' copy" in err and "2 batches" in out  # the fixture's landing, then the CLI's


def test_with_the_copy_off_a_writer_withdraws_it_and_sql_reads_the_warehouse(env, capsys, monkeypatch) -> None:
    assert run(["ingest", "synthetic", "--symbols", "2", "--years", "0.1", "--seed", "5"], capsys)[0] == 0
    copy = env / "analyst" / "warehouse.duckdb"
    assert copy.exists()
    monkeypatch.setenv("FEATURECAST_ANALYST_COPY", "off")
    assert run(["ingest", "synthetic", "--symbols", "2", "--years", "0.1", "--seed", "6"], capsys)[0] == 0
    assert not copy.exists()  # an old copy would leave `featurecast sql` on yesterday's data
    code, out, err = run(["sql", "select count(*) || ' batches' from raw.load_batches"], capsys)
    assert code == 0 and "analysts' copy" not in err and "3 batches" in out


def _leaf_commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    subparsers = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subparsers:
        return [prefix]
    leaves = []
    for name, child in subparsers[0].choices.items():
        leaves += _leaf_commands(child, (*prefix, name))
    return leaves


def test_every_subcommand_rejects_an_unknown_flag_in_one_line(env, capsys) -> None:
    leaves = _leaf_commands(build_parser())
    assert len(leaves) >= 20 and ("signals", "promote") in leaves and ("ingest", "csv") in leaves
    for leaf in leaves:
        code, _, err = run([*leaf, "--no-such-flag"], capsys)
        assert code == ExitCode.USAGE, (leaf, code, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, (leaf, err)


BAD_ARGUMENTS = [
    (["signals", "promote", "nonexistent"], ExitCode.USAGE, "no model version 'nonexistent'"),
    (["signals", "promote"], ExitCode.USAGE, "required: version"),
    (["ingest", "synthetic", "--symbols", "-5"], ExitCode.USAGE, "--symbols: must be at least 1"),
    (["ingest", "synthetic", "--symbols", "0"], ExitCode.USAGE, "--symbols: must be at least 1"),
    (["ingest", "synthetic", "--years", "-1"], ExitCode.USAGE, "--years: must be greater than 0"),
    (["ingest", "synthetic", "--years", "0"], ExitCode.USAGE, "--years: must be greater than 0"),
    (["ingest", "synthetic", "--years", "nan"], ExitCode.USAGE, "expected a finite number"),
    (["ingest", "csv", "missing.csv"], ExitCode.USAGE, "no such file: missing.csv"),
    (["ingest", "csv", "x.csv", "--map", "nonsense"], ExitCode.USAGE, "--map expects COLUMN=field"),
    (["ingest", "alphavantage", "IBM"], ExitCode.USAGE, "ALPHAVANTAGE_API_KEY is not set"),
    (["backtest", "--k", "0"], ExitCode.USAGE, "--k: must be at least 1"),
    (["backtest", "--cost-bps", "-10"], ExitCode.USAGE, "--cost-bps: must be at least 0"),
    (["backtest", "--threshold", "inf"], ExitCode.USAGE, "expected a finite number"),
    (["backtest"], ExitCode.NOT_READY, "no champion signal model"),
    (["release", "ABC", "2024-13-01", "return_spike", "--reason", "x"], ExitCode.USAGE, "YYYY-MM-DD"),
    (["release", "ABC", "2024-01-02", "return_spike", "--reason", "x"], ExitCode.USAGE, "no guardrail findings yet"),
    (["serve", "--port", "99999"], ExitCode.USAGE, "--port: must be at least 1 and at most 65535"),
    (["sql", "select 1", "--max-rows", "0"], ExitCode.USAGE, "--max-rows: must be at least 1"),
    (["ingest", "csv", "x.csv", "--source", "a b;c"], ExitCode.INPUT_REJECTED, "invalid source name"),
    (["openapi", "--output", "data/warehouse.duckdb"], ExitCode.USAGE, "--output: must be a .json file"),
    (["screenshot", "--output", "data/warehouse.duckdb"], ExitCode.USAGE, "--output: must be a .png file"),
    (["docs", "--output", "data/warehouse.duckdb"], ExitCode.USAGE, "--output: must be a .md file"),
    (["openapi", "--output", "no/such/dir/api.json"], ExitCode.USAGE, "no such directory"),
    (["features", "list"], ExitCode.NOT_READY, "no dbt manifest"),
    (["nonsense"], ExitCode.USAGE, "invalid choice: 'nonsense'"),
    ([], ExitCode.USAGE, "required: COMMAND"),
]


@pytest.mark.parametrize(("argv", "code", "message"), BAD_ARGUMENTS)
def test_bad_arguments_get_one_line_and_their_exit_code(env, capsys, argv, code, message) -> None:
    (env.parent / "x.csv").write_text("timestamp,open,high,low,close,volume\n2024-06-07,1,2,0.5,1.5,100\n")
    before = digest(env / "warehouse.duckdb")
    got, _, err = run(argv, capsys)
    assert got == code and message in err, (got, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert got in EXIT_CODES
    assert digest(env / "warehouse.duckdb") == before


def test_commands_that_need_a_warehouse_say_so_and_create_none(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("FEATURECAST_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("FEATURECAST_WAREHOUSE", raising=False)
    for argv in (["signals", "promote", "v1"], ["signals", "score"], ["regimes", "refresh"], ["publish"], ["sql", "1"]):
        code, _, err = run(argv, capsys)
        assert code == ExitCode.NOT_READY and "no warehouse at" in err, argv
    assert not (tmp_path / "warehouse.duckdb").exists()


def test_an_unexpected_error_is_one_line_and_its_traceback_goes_to_the_log(env, capsys, monkeypatch) -> None:
    import featurecast.cli.admin as admin

    def broken(args, settings):
        raise RuntimeError("something nobody planned for")

    monkeypatch.setattr(admin, "config", broken)
    code, _, err = run(["config"], capsys)  # the parser binds the handler when it is built, after the patch
    log = env / "logs" / "cli-errors.log"
    assert code == ExitCode.INTERNAL and "something nobody planned for" in err and str(log) in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert "Traceback" in log.read_text() and "broken" in log.read_text()


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("FEATURECAST_SYNTHETIC_YEARS", "lots", "FEATURECAST_SYNTHETIC_YEARS must be a number"),
        ("FEATURECAST_DUCKDB_MEMORY_LIMIT", "80%", "FEATURECAST_DUCKDB_MEMORY_LIMIT must be an amount of memory"),
        ("FEATURECAST_ANALYST_COPY", "maybe", "FEATURECAST_ANALYST_COPY must be on or off"),
        ("FEATURECAST_DBT_LOG_LEVEL", "verbose", "FEATURECAST_DBT_LOG_LEVEL must be one of debug, info"),
    ],
)
def test_a_bad_environment_variable_is_a_configuration_error(env, capsys, monkeypatch, name, value, message) -> None:
    monkeypatch.setenv(name, value)
    code, _, err = run(["config"], capsys)
    assert code == ExitCode.USAGE and message in err


# --- writers take turns -------------------------------------------------------------------------------

HOLDER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from featurecast.warehouse_lock import warehouse_lock
    with warehouse_lock(Path(sys.argv[1]), timeout=0, command="featurecast build"):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def hold_lock(warehouse: Path, seconds: float) -> subprocess.Popen:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(warehouse), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout.readline().strip() == "held"
    return holder


def test_a_writer_waits_its_turn_then_says_who_holds_the_warehouse(env, capsys) -> None:
    warehouse = env / "warehouse.duckdb"
    holder = hold_lock(warehouse, 30)
    try:
        before = digest(warehouse)
        code, _, err = run(["ingest", "synthetic", "--symbols", "2", "--years", "0.1"], capsys)
        assert code == ExitCode.BUSY
        assert f"`featurecast build` (pid {holder.pid}" in err and "waited 1 s" in err
        assert "waiting for the warehouse" in err  # said once while waiting
        assert digest(warehouse) == before  # nothing half-landed
        assert current_holder(warehouse).pid == holder.pid
    finally:
        holder.kill()
        holder.wait()


@pytest.mark.parametrize("argv", [["run"], ["flow", "daily-refresh", "--source", "none"], ["build"]])
def test_flows_and_builds_wait_their_turn_before_starting_anything(env, capsys, argv) -> None:
    holder = hold_lock(env / "warehouse.duckdb", 30)
    try:
        code, _, err = run(argv, capsys)
        assert code == ExitCode.BUSY and f"(pid {holder.pid}" in err and "Traceback" not in err
        assert not (env / "dbt_target").exists()  # no build, no Prefect server started
    finally:
        holder.kill()
        holder.wait()


def test_a_writer_proceeds_as_soon_as_the_holder_finishes(env, capsys, monkeypatch) -> None:
    monkeypatch.setenv("FEATURECAST_LOCK_TIMEOUT_SECONDS", "30")
    holder = hold_lock(env / "warehouse.duckdb", 1.5)
    started = time.monotonic()
    code, out, err = run(["ingest", "synthetic", "--symbols", "2", "--years", "0.1"], capsys)
    holder.wait()
    assert code == 0 and "landed batch" in out and "waiting for the warehouse" in err
    assert time.monotonic() - started >= 1.0


def test_a_killed_holder_never_leaves_the_warehouse_locked(env) -> None:
    holder = hold_lock(env / "warehouse.duckdb", 60)
    holder.kill()
    holder.wait()
    with warehouse_lock(env / "warehouse.duckdb", timeout=0, command="next"):
        assert holds_lock(env / "warehouse.duckdb")


def test_the_lock_is_reentrant_within_a_process_and_exclusive_across_processes(env) -> None:
    warehouse = env / "warehouse.duckdb"
    with warehouse_lock(warehouse, timeout=0, command="flow"):
        with warehouse_lock(warehouse, timeout=0, command="subflow"):  # the nightly flow trains inside itself
            assert holds_lock(warehouse)
        assert holds_lock(warehouse)
        probe = subprocess.run(
            [sys.executable, "-c", HOLDER, str(warehouse), "0"], capture_output=True, text=True, check=False
        )
        assert probe.returncode != 0 and "WarehouseBusyError" in probe.stderr and "`flow`" in probe.stderr
    assert not holds_lock(warehouse)
    with warehouse_lock(warehouse, timeout=0, command="again"):  # released at the outermost exit
        assert current_holder(warehouse).command == "again"


def test_an_analyst_holding_the_copy_open_never_blocks_a_writer(env, capsys) -> None:
    assert run(["ingest", "synthetic", "--symbols", "2", "--years", "0.1", "--seed", "5"], capsys)[0] == 0
    copy = env / "analyst" / "warehouse.duckdb"
    analyst = duckdb.connect(str(copy), read_only=True)  # a DuckDB client left open on the copy
    try:
        seen = analyst.execute("select count(*) from raw.load_batches").fetchone()[0]
        code, _, err = run(["ingest", "synthetic", "--symbols", "2", "--years", "0.1", "--seed", "6"], capsys)
        assert code == 0, err
        # The client keeps its consistent view; a new connection sees the new data.
        assert analyst.execute("select count(*) from raw.load_batches").fetchone()[0] == seen
    finally:
        analyst.close()
    fresh = duckdb.connect(str(copy), read_only=True)
    try:
        assert fresh.execute("select count(*) from raw.load_batches").fetchone()[0] == seen + 1
    finally:
        fresh.close()


COPY = "from pathlib import Path\nfrom featurecast.analyst_copy import publish_analyst_copy as p\n" + (
    "p(*map(Path, sys.argv[3:]))"
)


@pytest.mark.parametrize(("operation", "nth"), [("fsync", 1), ("replace", 1), ("fsync", 2)])
def test_a_copy_killed_at_any_step_leaves_a_complete_analysts_copy(env, operation, nth) -> None:
    from featurecast.analyst_copy import publish_analyst_copy

    warehouse, copy = env / "warehouse.duckdb", env / "analyst" / "warehouse.duckdb"
    publish_analyst_copy(warehouse, copy)
    yesterday = digest(copy)
    land(warehouse, generate(SyntheticSpec(n_symbols=2, years=0.1, seed=5)).prices, source="synthetic")
    assert digest(warehouse) != yesterday
    killed = run_killed_at(operation, nth, COPY, str(warehouse), str(copy))
    assert killed.returncode == 9, killed.stderr[-2000:]
    # Killed before the rename: yesterday's copy, intact. After it: today's, complete. Never a torn file.
    expected = digest(warehouse) if (operation, nth) == ("fsync", 2) else yesterday
    assert digest(copy) == expected
    con = duckdb.connect(str(copy), read_only=True)
    assert con.execute("select count(*) from raw.load_batches").fetchone()[0] >= 1
    con.close()
    publish_analyst_copy(warehouse, copy)  # the next publish removes the leftover and replaces the copy
    assert not list(copy.parent.glob(".*.partial")) and digest(copy) == digest(warehouse)
