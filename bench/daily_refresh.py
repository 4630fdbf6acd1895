"""Benchmark: the nightly flow as operators run it, `featurecast flow daily-refresh` as its own process.

    .venv/bin/python bench/daily_refresh.py --symbols 500 --years 10     # synthetic, first night included
    .venv/bin/python bench/daily_refresh.py --real                       # skfolio's S&P 500 files
    .venv/bin/python bench/daily_refresh.py --real --from-data DIR       # start from a built data dir

Every run is the command as typed, a new process (imports, dbt start-up and all), timed from outside;
its stage seconds come from the run summary it prints. Scenarios, on one data directory:
1. first night (unless --from-data): every session but the last four landed; no champion yet, so the
   flow trains first (both families, every fold, calibration) and backfills regimes and forecasts;
2. against a running Prefect server (a deployment run's situation; the bench starts `prefect server
   start` itself and points PREFECT_API_URL at it): nothing new; one new session; nothing new again;
   one new session again (the first after a night that ran the SQL tests can be slower); one new
   session with `--node-tasks` (what a task run per dbt node costs);
3. ad hoc, no server configured (Prefect starts a temporary one in the process): one new session and
   nothing new; the difference to 2 is what the temporary server adds.
The new sessions are landed beforehand with `featurecast ingest csv` (the flow runs with --source none).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
CLI = str(Path(sys.executable).parent / "featurecast")
HELD_BACK = 4  # sessions held back for the nights that add one
PREFECT = str(Path(sys.executable).parent / "prefect")


def real_data_files() -> tuple[Path, Path]:
    """skfolio's S&P 500 files (20 stocks wide, and the index), found without importing skfolio."""
    import importlib.util

    spec = importlib.util.find_spec("skfolio")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("--real needs skfolio (a test dependency): make setup-test")
    data = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    return data / "sp500_dataset.csv.gz", data / "sp500_index.csv.gz"


def prepare_real(workdir: Path, env: dict[str, str], held_back: int) -> list[Path]:
    """Land the real files minus their last `held_back` sessions; return one CSV pair per held-back day."""
    stocks_file, index_file = real_data_files()
    stocks = pd.read_csv(stocks_file, parse_dates=["Date"])
    index = pd.read_csv(index_file, parse_dates=["Date"])
    days = sorted(stocks["Date"].unique())[-held_back:]
    files: list[Path] = []
    stocks[stocks["Date"] < days[0]].to_csv(workdir / "stocks.csv", index=False)
    index[index["Date"] < days[0]].to_csv(workdir / "index.csv", index=False)
    cli(["ingest", "csv", str(workdir / "stocks.csv"), str(workdir / "index.csv")], env)
    for n, day in enumerate(days):
        for name, frame in (("stocks", stocks), ("index", index)):
            path = workdir / f"{name}_day{n}.csv"
            frame[frame["Date"] == day].to_csv(path, index=False)
            files.append(path)
    return files


def prepare_synthetic(workdir: Path, env: dict[str, str], held_back: int) -> list[Path]:
    """Land the synthetic universe minus its last `held_back` sessions; one OHLCV CSV per held-back day."""
    os.environ.update(env)
    from featurecast.config import Settings
    from featurecast.marketdata.landing import land
    from featurecast.marketdata.service import MarketDataService
    from featurecast.marketdata.synthetic import generate

    settings = Settings.from_env()
    prices = generate(MarketDataService(settings).default_synthetic_spec()).prices
    days = sorted(prices["date"].unique())[-held_back:]
    land(settings.warehouse_path, prices[prices["date"] < days[0]], source="synthetic")
    files = []
    for n, day in enumerate(days):
        path = workdir / f"day{n}.csv"
        prices[prices["date"] == day][["symbol", "date", "open", "high", "low", "close", "volume"]].to_csv(
            path, index=False
        )
        files.append(path)
    return files


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([CLI, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"featurecast {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done


def night(env: dict[str, str], *extra: str) -> tuple[float, dict[str, float]]:
    """One `featurecast flow daily-refresh --source none` process: its wall time and its stage seconds.
    Its output (the run summary, and the progress lines of long work, e.g. each training fold's time) is
    kept beside the data, as night-<n>.log."""
    started = time.perf_counter()
    done = cli(["flow", "daily-refresh", "--source", "none", *extra], env)
    wall = time.perf_counter() - started
    logs = Path(env["FEATURECAST_DATA_DIR"]).parent
    log = logs / f"night-{len(list(logs.glob('night-*.log')))}.log"
    log.write_text(done.stdout + done.stderr)
    line = next(line for line in done.stdout.splitlines() if line.startswith("stages: "))
    stages = {}
    for part in line.removeprefix("stages: ").split(", "):  # "dbt build: evaluation 2.3 s"
        name, seconds, _ = part.rsplit(" ", 2)
        stages[name] = float(seconds)
    return wall, stages


def start_server(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    import httpx

    server = subprocess.Popen(
        [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.5)
    os.killpg(server.pid, signal.SIGTERM)
    raise SystemExit("the Prefect server did not start within 120 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, default=500)
    parser.add_argument("--years", type=float, default=10.0)
    parser.add_argument("--real", action="store_true", help="skfolio's 20 stocks and the S&P 500, 1990-2022")
    parser.add_argument("--from-data", type=Path, help="copy this built data dir (skips the first night)")
    parser.add_argument("--port", type=int, default=4288)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="featurecast-bench-night-"))
    data = workdir / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FEATURECAST_", "PREFECT_API", "MONGODB"))}
    env |= {
        "FEATURECAST_DATA_DIR": str(data),
        "PREFECT_HOME": str(workdir / "prefect"),
        "DO_NOT_TRACK": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    if args.real:
        env["FEATURECAST_MARKET_SERIES"] = "SP500"
        label = "real data: skfolio's 20 S&P 500 stocks and the index, 1990-2022"
    else:
        env |= {"FEATURECAST_SYNTHETIC_SYMBOLS": str(args.symbols), "FEATURECAST_SYNTHETIC_YEARS": str(args.years)}
        label = f"synthetic: {args.symbols} symbols x {args.years:g} years"

    runs: list[tuple[str, float, dict[str, float]]] = []
    if args.from_data:
        shutil.copytree(args.from_data, data)
        os.sync()  # write the copy out first: a disk busy flushing gigabytes slows the runs being timed
        days = prepare_held_back_from(data, workdir, env, args.real)
        runs.append(("first run on the copy", *night(env)))  # backfills what the copy never ran (forecasts)
    else:
        data.mkdir(parents=True)
        days = (prepare_real if args.real else prepare_synthetic)(workdir, env, HELD_BACK)
        runs.append(("first night (trains)", *night(env)))
    per_day = 2 if args.real else 1
    day_files = [days[i : i + per_day] for i in range(0, len(days), per_day)]

    server_env = env | {"PREFECT_API_URL": f"http://127.0.0.1:{args.port}/api"}
    server = start_server(env, args.port)
    try:
        runs.append(("server: nothing new", *night(server_env)))
        cli(["ingest", "csv", *map(str, day_files[0])], env)
        runs.append(("server: +1 session", *night(server_env)))
        runs.append(("server: nothing new again", *night(server_env)))
        cli(["ingest", "csv", *map(str, day_files[1])], env)
        runs.append(("server: +1 session again", *night(server_env)))
        cli(["ingest", "csv", *map(str, day_files[3])], env)
        runs.append(("server: +1, --node-tasks", *night(server_env, "--node-tasks")))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
    cli(["ingest", "csv", *map(str, day_files[2])], env)
    runs.append(("ad hoc: +1 session", *night(env)))
    runs.append(("ad hoc: nothing new", *night(env)))
    report(label, data, runs)


def prepare_held_back_from(data: Path, workdir: Path, env: dict[str, str], real: bool) -> list[Path]:
    """From a copied data dir: four new sessions after its last one (closes moved by +0.3%, -0.2%, +0.1%, +0.2%),
    in the layout of its own data (wide closes for the real set, OHLCV for synthetic)."""
    import duckdb

    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        last = con.sql(
            "select symbol, date, open, high, low, close, volume from raw.daily_ohlcv qualify date = max(date) over ()"
        ).df()
    finally:
        con.close()
    files = []
    day = pd.Timestamp(last["date"].max())
    for n, move in enumerate((1.003, 0.998, 1.001, 1.002)[:HELD_BACK]):
        day = day + pd.offsets.BDay(1)
        bar = last.assign(date=day.date())
        for column in ("open", "high", "low", "close"):
            bar[column] = (bar[column] * move ** (n + 1)).round(4)
        if real:
            wide = bar.pivot(index="date", columns="symbol", values="close").rename_axis(index="Date", columns=None)
            stocks = wide.drop(columns=["SP500"])
            stocks.to_csv(workdir / f"stocks_day{n}.csv")
            wide[["SP500"]].to_csv(workdir / f"index_day{n}.csv")
            files += [workdir / f"stocks_day{n}.csv", workdir / f"index_day{n}.csv"]
        else:
            bar.to_csv(workdir / f"day{n}.csv", index=False)
            files.append(workdir / f"day{n}.csv")
    return files


def report(label: str, data: Path, runs: list[tuple[str, float, dict[str, float]]]) -> None:
    import duckdb

    con = duckdb.connect(str(data / "warehouse.duckdb"), read_only=True)
    try:
        bars = con.sql("select count(*) from raw.daily_ohlcv").fetchone()
    finally:
        con.close()
    print(f"daily_refresh as its own process, {label} ({bars[0] if bars else 0:,} bars), data in {data}")
    stages = list(dict.fromkeys(stage for _, _, seconds in runs for stage in seconds))
    width = max(len(s) for s in stages) + 2
    header = f"{'stage':<{width}}" + "".join(f"{name:>28}" for name, _, _ in runs)
    print(header)
    print("-" * len(header))
    for stage in stages:
        cells = "".join(f"{seconds[stage]:>27.1f}s" if stage in seconds else f"{'-':>28}" for _, _, seconds in runs)
        print(f"{stage:<{width}}{cells}")
    rest = [wall - sum(seconds.values()) for _, wall, seconds in runs]
    print(f"{'start-up, Prefect, summary, copy':<{width}}" + "".join(f"{r:>27.1f}s" for r in rest))
    print(f"{'wall (the process)':<{width}}" + "".join(f"{wall:>27.1f}s" for _, wall, _ in runs))


if __name__ == "__main__":
    main()
