"""Operator safety, round two: inputs read as what they claim to be, symbols never rewritten, arguments
checked where they are parsed, and no output file among the data. All through the CLI as typed.

What each input gets (nothing is written; the warehouse is byte for byte the same):
| input                                                          | exit | the one line says |
| `ingest csv link.csv`, a symlink (to a file holding a secret)  | 2    | "is a symbolic link", nothing of its target |
| `ingest csv DIR`, a directory; a named pipe                    | 2    | "is a directory" / "is a pipe" |
| a `.csv.gz` expanding past FEATURECAST_IMPORT_MAX_BYTES        | 2    | "expands past the import limit" |
| a CSV with more rows than FEATURECAST_IMPORT_MAX_ROWS          | 2    | "more than the import limit of N rows" |
| `--symbol ı`, `--symbol ﬃ`, `--symbol ""`, `--symbol 'A B'`    | 3    | "invalid symbol" / "the symbol is empty" |
| `--symbol ONE` on a file whose symbol column holds other symbols | 2    | "--symbol ONE given, but ... holds" |
| a symbol column holding `ı`                                    | 2    | "invalid symbol(s): 'ı'" |
| dates with a time of day (`2024-06-07 15:30`)                  | 2    | "carry a time of day" |
| `--date-format '%Q'`, `--date-format 'abc'`                    | 3    | "not a date pattern" |
| `--cost-bps 1e308`, `--max-rows 99999999999999999999`, `--seed -1` | 3    | "must be at least .. and at most .." |
| `openapi --output data/x.dbt_vars.json` (inside the data dir)  | 3    | "is inside the data directory" |
"""

from __future__ import annotations

import gzip
import os

import pytest

from featurecast.cli.errors import ExitCode
from tests.python.conftest import digest, run

ROW = "2024-06-07,1,2,0.5,1.5,100\n"
HEADER = "timestamp,open,high,low,close,volume\n"


def _one_line(err: str) -> None:
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_a_symlinked_csv_is_refused_and_its_target_is_not_echoed(env, capsys, tmp_path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("root:x:0:0:the-first-line-of-a-system-file\n")
    (tmp_path / "x.csv").symlink_to(secret)
    before = digest(env / "warehouse.duckdb")
    code, out, err = run(["ingest", "csv", "x.csv"], capsys)
    assert code == ExitCode.INPUT_REJECTED and "x.csv: is a symbolic link" in err
    assert "root:x" not in out + err and "first-line" not in out + err
    _one_line(err)
    assert digest(env / "warehouse.duckdb") == before


def test_a_directory_and_a_pipe_are_refused_by_name(env, capsys, tmp_path) -> None:
    (tmp_path / "folder.csv").mkdir()
    os.mkfifo(tmp_path / "pipe.csv")  # opening it would block: it must not be opened
    code, _, err = run(["ingest", "csv", "folder.csv"], capsys)
    assert code == ExitCode.INPUT_REJECTED and "folder.csv: is a directory" in err, err
    code, _, err = run(["ingest", "csv", "pipe.csv"], capsys)
    assert code == ExitCode.INPUT_REJECTED and "pipe.csv: is a pipe" in err, err


def test_a_compressed_file_that_expands_past_the_limit_is_refused(env, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FEATURECAST_IMPORT_MAX_BYTES", "100000")
    with gzip.open(tmp_path / "bomb.csv.gz", "wt") as handle:  # 30 kB compressed, 3.4 MB of rows
        handle.write(HEADER + ROW * 130_000)
    before = digest(env / "warehouse.duckdb")
    code, _, err = run(["ingest", "csv", "bomb.csv.gz"], capsys)
    assert code == ExitCode.INPUT_REJECTED and "expands past the import limit of 100,000 bytes" in err, err
    _one_line(err)
    assert digest(env / "warehouse.duckdb") == before


def test_a_file_with_more_rows_than_the_limit_is_refused(env, capsys, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("FEATURECAST_IMPORT_MAX_ROWS", "2")
    rows = "".join(f"2024-06-0{d},1,2,0.5,1.5,100\n" for d in (4, 5, 6))
    (tmp_path / "ABC.csv").write_text(HEADER + rows)
    code, _, err = run(["ingest", "csv", "ABC.csv"], capsys)
    assert code == ExitCode.INPUT_REJECTED and "more than the import limit of 2 rows" in err, err


@pytest.mark.parametrize(
    ("symbol", "message"),
    [("ı", "invalid symbol 'ı'"), ("ﬃ", "invalid symbol 'ﬃ'"), ("", "the symbol is empty"), ("A B", "invalid symbol")],
)
def test_a_symbol_outside_the_alphabet_is_refused_not_rewritten(env, capsys, tmp_path, symbol, message) -> None:
    (tmp_path / "x.csv").write_text(HEADER + ROW)
    code, _, err = run(["ingest", "csv", "x.csv", "--symbol", symbol], capsys)
    assert code == ExitCode.USAGE and message in err, err
    _one_line(err)


def test_symbol_never_relabels_a_file_that_names_its_own(env, capsys, tmp_path) -> None:
    (tmp_path / "two.csv").write_text("symbol," + HEADER + "AAA," + ROW + "BBB," + ROW)
    (tmp_path / "one.csv").write_text("symbol," + HEADER + "one," + ROW)
    before = digest(env / "warehouse.duckdb")
    code, _, err = run(["ingest", "csv", "two.csv", "--symbol", "ONE"], capsys)
    assert code == ExitCode.INPUT_REJECTED and "--symbol ONE given, but the file's symbol column holds 'AAA'" in err
    assert digest(env / "warehouse.duckdb") == before
    code, out, err = run(["ingest", "csv", "one.csv", "--symbol", "one"], capsys)  # the same symbol: fine
    assert code == ExitCode.OK and "1 rows received, 1 inserted" in out, err


def test_a_non_ascii_symbol_in_a_file_is_refused(env, capsys, tmp_path) -> None:
    (tmp_path / "x.csv").write_text("symbol," + HEADER + "ı," + ROW)
    code, _, err = run(["ingest", "csv", "x.csv"], capsys)
    assert code == ExitCode.INPUT_REJECTED and "invalid symbol(s): 'ı'" in err, err


def test_a_time_of_day_in_a_daily_file_is_refused(env, capsys, tmp_path) -> None:
    (tmp_path / "ABC.csv").write_text(HEADER + "2024-06-07 15:30:00,1,2,0.5,1.5,100\n")
    code, _, err = run(["ingest", "csv", "ABC.csv"], capsys)
    assert code == ExitCode.INPUT_REJECTED and "carry a time of day ('2024-06-07 15:30:00')" in err, err
    (tmp_path / "ABC.csv").write_text(HEADER + "2024-06-07 00:00:00,1,2,0.5,1.5,100\n")  # midnight is the day
    code, _, err = run(["ingest", "csv", "ABC.csv"], capsys)
    assert code == ExitCode.OK, err


BAD_VALUES = [
    (["ingest", "csv", "ABC.csv", "--date-format", "%Q"], "--date-format: not a date pattern"),
    (["ingest", "csv", "ABC.csv", "--date-format", "abc"], "--date-format: not a date pattern"),
    (["backtest", "--cost-bps", "1e308"], "--cost-bps: must be at least 0 and at most 10000"),
    (["backtest", "--risk-gate-q05", "5"], "--risk-gate-q05: must be at least -1 and at most 1"),
    (["sql", "select 1", "--max-rows", "99999999999999999999"], "--max-rows: must be at least 1 and at most 1e+06"),
    (["ingest", "synthetic", "--seed", "-1"], "--seed: must be at least 0"),
    (["ingest", "synthetic", "--years", "1e9"], "--years: must be greater than 0 and at most 100"),
    (["openapi", "--output", "data/warehouse.duckdb.dbt_vars.json"], "is inside the data directory"),
    (["docs", "--output", "data/notes.md"], "is inside the data directory"),
]


@pytest.mark.parametrize(("argv", "message"), BAD_VALUES)
def test_a_bad_value_is_a_usage_error_where_it_is_parsed(env, capsys, tmp_path, argv, message) -> None:
    (tmp_path / "ABC.csv").write_text(HEADER + ROW)
    state = (env / "warehouse.duckdb.dbt_vars.json").write_text("{}") and sorted(os.listdir(env))
    code, _, err = run(argv, capsys)
    assert code == ExitCode.USAGE and message in err, err
    _one_line(err)
    assert (env / "warehouse.duckdb.dbt_vars.json").read_text() == "{}" and sorted(os.listdir(env)) == state
