"""Every interrupt is exit 130: SIGINT (Ctrl-C) and SIGTERM sent to a real second process running the
command as typed, at a moment it is busy.

What each gets: exit 130; stderr is one line, "featurecast: interrupted (SIGINT|SIGTERM); stopped cleanly,
nothing half-done was kept"; no traceback anywhere; no process of its group left running (a flow's
temporary Prefect server, uvicorn's workers); the next command finds the warehouse unlocked and whole.
| command                                   | signal  | sent when                              |
| `build --full-refresh`                    | SIGINT  | dbt has started its nodes              |
| `build --full-refresh`                    | SIGTERM | dbt has started its nodes              |
| `sql "<a query scanning 10^11 rows>"`     | SIGINT  | DuckDB is running it                   |
| `serve --workers 2`                       | SIGTERM | serving (/health answers)              |
| `serve --workers 1`                       | SIGINT  | serving (/health answers)              |
| `flow daily-refresh --source none`        | SIGTERM | the flow run is Running (Prefect owns SIGTERM then) |
"""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import duckdb
import pytest

from featurecast.cli.errors import ExitCode

FEATURECAST = str(Path(sys.executable).parent / "featurecast")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("interrupts")
    env = {**os.environ, "FEATURECAST_DATA_DIR": str(data)}
    env.pop("FEATURECAST_WAREHOUSE", None)
    for argv in (["ingest", "synthetic", "--symbols", "10", "--years", "3"], ["build"]):
        subprocess.run([FEATURECAST, *argv], env=env, check=True, capture_output=True)
    return data


def _environment(data: Path) -> dict[str, str]:
    env = {**os.environ, "FEATURECAST_DATA_DIR": str(data), "FEATURECAST_LOCK_TIMEOUT_SECONDS": "5"}
    env.pop("FEATURECAST_WAREHOUSE", None)
    return env


def _live_group_members(group: int) -> list[str]:
    """Processes of the process group that are not zombies (a zombie has exited; only its entry is left)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == group and state != "Z":
            alive.append(stat.parent.name)
    return alive


def interrupt(
    data: Path, argv: list[str], sig: signal.Signals, ready: str | None, timeout: float = 120
) -> tuple[int, str]:
    """Start `featurecast ARGV`, wait for `ready` in its output (or 3 s), send `sig`; (exit code, output)."""
    process = subprocess.Popen(
        [FEATURECAST, *argv],
        env=_environment(data),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    if ready is None:
        time.sleep(3)
    while ready is not None and not any(ready in line for line in seen):
        assert time.monotonic() < deadline and process.poll() is None, "".join(seen)
        with contextlib.suppress(queue.Empty):
            seen.append(lines.get(timeout=0.5))
    if ready == "serving on":  # the workers answer before the signal
        port = argv[argv.index("--port") + 1]
        _wait_for(f"http://127.0.0.1:{port}/health")
    process.send_signal(sig)
    try:
        code = process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    time.sleep(0.5)
    while not lines.empty():
        seen.append(lines.get())
    assert _live_group_members(process.pid) == [], "a process of the command outlived it"
    return code, "".join(seen)


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            assert time.monotonic() < deadline, f"{url} never answered"
            time.sleep(0.2)


def _free_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return str(s.getsockname()[1])


def _assert_interrupted(code: int, output: str, sig: signal.Signals) -> None:
    assert code == ExitCode.INTERRUPTED, output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output, output
    last = output.strip().splitlines()[-1]
    assert last == f"featurecast: interrupted ({sig.name}); stopped cleanly, nothing half-done was kept", output


def _assert_whole(data: Path) -> None:
    """The lock is free and the warehouse opens and builds: the interrupted run left nothing half-done."""
    done = subprocess.run([FEATURECAST, "build"], env=_environment(data), capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        assert con.execute("select count(*) from marts.fct_daily_features").fetchone()[0] > 0
    finally:
        con.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_build_interrupted(data_dir, sig) -> None:
    code, output = interrupt(data_dir, ["build", "--full-refresh"], sig, ready="START")
    _assert_interrupted(code, output, sig)
    _assert_whole(data_dir)


def test_sql_interrupted(data_dir) -> None:
    query = "select count(*) from range(100000000000) t(i) where i % 7 = 3"
    code, output = interrupt(data_dir, ["sql", "--live", query], signal.SIGINT, ready=None)
    _assert_interrupted(code, output, signal.SIGINT)


@pytest.mark.parametrize(("workers", "sig"), [("2", signal.SIGTERM), ("1", signal.SIGINT)])
def test_serve_interrupted(data_dir, workers, sig) -> None:
    argv = ["serve", "--workers", workers, "--port", _free_port()]
    code, output = interrupt(data_dir, argv, sig, ready="serving on")
    _assert_interrupted(code, output, sig)


def test_a_flow_interrupted_by_sigterm_stops_instead_of_running_on(data_dir) -> None:
    argv = ["-v", "flow", "daily-refresh", "--source", "none"]
    started = time.monotonic()
    # the flow run has entered Running on the temporary server (Prefect's "Beginning flow run" log line
    # did not always reach the console)
    code, output = interrupt(data_dir, argv, signal.SIGTERM, ready="/set_state ")
    _assert_interrupted(code, output, signal.SIGTERM)
    assert "stages:" not in output  # it did not run on to the summary
    assert time.monotonic() - started < 90
    _assert_whole(data_dir)
