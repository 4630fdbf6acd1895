"""Faults named for what they are, each through the CLI as typed, with one line and no traceback.

What each gets (the warehouse file is left exactly as it was):
| the warehouse or its directory                              | exit | the one line says                         |
| an empty file, a text file (not DuckDB)                     | 6    | "is not a DuckDB database ..." |
| a truncated file, a corrupt block                           | 6    | "is damaged (truncated or corrupt: ...)"  |
| a directory where the file should be                        | 6    | "is a directory, not a file"              |
| open in an outside DuckDB client                            | 5    | "is open in another process"              |
| on a read-only file system                                  | 6    | "cannot write ...: ... read-only" |
| a disk that fills while the analysts' copy is written       | 6    | "its analysts' copy could not be refreshed" (*) |
| the next writer on that full disk                           | 6    | "the disk is full", not "cannot rollback" |
(*) "... the disk is full"; the previous copy is still served and no `.partial` is left.
The read-only and full-disk cases mount a small tmpfs (root only; skipped where mounting is not allowed).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from featurecast.cli.errors import ExitCode
from tests.python.conftest import digest, run


def _scribbled(data: bytes) -> bytes:
    """64 bytes overwritten in the first data block, after the three 4 kB headers."""
    return data[:12288] + b"X" * 64 + data[12352:]


DAMAGED = {
    "empty": (lambda good, bad: bad.write_bytes(b""), "is not a DuckDB database this version can read"),
    "text": (lambda good, bad: bad.write_text("symbol,date\n"), "is not a DuckDB database this version can read"),
    "truncated": (
        lambda good, bad: bad.write_bytes(good.read_bytes()[: len(good.read_bytes()) // 3]),
        "is damaged (",
    ),
    "corrupt": (lambda good, bad: bad.write_bytes(_scribbled(good.read_bytes())), "is damaged ("),
}


def _one_line(err: str) -> None:
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


@pytest.mark.parametrize("kind", list(DAMAGED))
@pytest.mark.parametrize(
    "argv", [["build"], ["ingest", "synthetic", "--symbols", "3", "--years", "0.2"], ["publish"]]
)
def test_a_damaged_or_foreign_warehouse_is_named_not_busy(env, capsys, tmp_path, kind, argv) -> None:
    warehouse = env / "warehouse.duckdb"
    good = tmp_path / "good.duckdb"
    shutil.copyfile(warehouse, good)
    make, message = DAMAGED[kind]
    make(good, warehouse)
    before = digest(warehouse)
    code, _, err = run(argv, capsys)
    assert code == ExitCode.STORAGE and message in err and str(warehouse) in err, err
    _one_line(err)
    assert digest(warehouse) == before


def test_a_directory_in_place_of_the_warehouse(env, capsys) -> None:
    (env / "warehouse.duckdb").unlink()
    (env / "warehouse.duckdb").mkdir()
    code, _, err = run(["build"], capsys)
    assert code == ExitCode.STORAGE and "is a directory, not a file" in err, err
    _one_line(err)


HOLD = textwrap.dedent(
    """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])
    print("held", flush=True)
    time.sleep(60)
    """
)


def test_a_warehouse_held_by_an_outside_client_is_busy_before_dbt_starts(env, capsys) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(env / "warehouse.duckdb")], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        for argv in (["build"], ["ingest", "synthetic", "--symbols", "3", "--years", "0.2"]):
            code, out, err = run(argv, capsys)
            assert code == ExitCode.BUSY and "is open in another process" in err, err
            _one_line(err)
            assert "Traceback" not in out and "dbt" not in out  # dbt never started
    finally:
        holder.kill()
        holder.wait()


@pytest.fixture()
def small_disk(tmp_path) -> Iterator[callable]:
    """Mount tmpfs file systems of a chosen size (and, on request, read-only); unmounted afterwards."""
    mounted: list[Path] = []

    def mount(size_kb: int, *, read_only: bool = False, seed: dict[str, Path] | None = None) -> Path:
        point = tmp_path / f"disk{len(mounted)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(point)], check=False)
        if done.returncode != 0:
            pytest.skip("mounting a tmpfs is not allowed here")
        mounted.append(point)
        for name, source in (seed or {}).items():
            (point / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, point / name)
        if read_only:
            subprocess.run(["mount", "-o", "remount,ro", str(point)], check=True)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", "-l", str(point)], check=False)


def test_a_read_only_data_directory_is_named(env, capsys, monkeypatch, small_disk) -> None:
    disk = small_disk(64 * 1024, read_only=True, seed={"warehouse.duckdb": env / "warehouse.duckdb"})
    monkeypatch.setenv("FEATURECAST_DATA_DIR", str(disk))
    for argv in (["build"], ["ingest", "synthetic", "--symbols", "3", "--years", "0.2"], ["publish"]):
        code, _, err = run(argv, capsys)
        assert code == ExitCode.STORAGE and "read-only" in err, err
        _one_line(err)


def test_a_full_disk_keeps_the_previous_analysts_copy_and_says_so(env, capsys, monkeypatch, small_disk) -> None:
    again = ["ingest", "synthetic", "--symbols", "3", "--years", "0.2"]  # lands the same rows: only its batch log
    assert run(again, capsys)[0] == run(again, capsys)[0] == ExitCode.OK
    warehouse, copy = env / "warehouse.duckdb", env / "analyst" / "warehouse.duckdb"
    disk = small_disk(64 * 1024, seed={"warehouse.duckdb": warehouse, "analyst/warehouse.duckdb": copy})
    # fill the disk but for half a warehouse: room for the import's few writes, not for a new copy
    with (disk / "filler").open("wb") as filler:
        filler.write(b"\0" * (shutil.disk_usage(disk).free - warehouse.stat().st_size // 2))
    monkeypatch.setenv("FEATURECAST_DATA_DIR", str(disk))
    served = digest(disk / "analyst" / "warehouse.duckdb")
    code, out, err = run(again, capsys)
    assert code == ExitCode.STORAGE, err
    assert "landed batch" in out and "analysts' copy could not be refreshed: the disk is full" in err, err
    _one_line(err)
    assert digest(disk / "analyst" / "warehouse.duckdb") == served  # the previous copy is still what is served
    assert sorted(p.name for p in (disk / "analyst").iterdir()) == ["warehouse.duckdb"]  # no .partial left
    # the disk is still full: the next writer names it too (not "cannot rollback - no transaction is active")
    code, _, err = run(["ingest", "synthetic", "--symbols", "12", "--years", "3"], capsys)
    assert code == ExitCode.STORAGE and "the disk is full" in err and "rollback" not in err, err
