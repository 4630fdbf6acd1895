"""Benchmark: the scale curve. A full build and a one-session build at growing universes, on DuckDB and
on local Spark, with wall time and peak memory, and a plain-pandas baseline of 21 of the same features on
the same bars.

    .venv/bin/python bench/scale_curve.py                                   # 100, 500, 2000, 5000 x 20 years
    .venv/bin/python bench/scale_curve.py --symbols 100 500 --spark-max 100  # a quick curve
    .venv/bin/python bench/scale_curve.py --symbols 2000 --engines spark --full-only  # one point
    .venv/bin/python bench/scale_curve.py --plot a.json b.json              # redraw the PNG from runs

Each build is its own `featurecast build` process (a fresh interpreter, as the nightly job runs). A
sampler adds up the resident memory of that process and its children (Spark's JVM) five times a second;
the peak is what the machine had to hold. An engine stops at the first size whose full build takes longer
than --budget-minutes (the curve shows where it stopped). Results go to <workdir>/scale_curve.json after
every size, and the figure to docs/scale_curve.png.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from featurecast.config import PROJECT_ROOT, Settings
from featurecast.marketdata.landing import land
from featurecast.marketdata.synthetic import SyntheticSpec, generate

PAGE = os.sysconf("SC_PAGE_SIZE")
MACHINE_BYTES = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
FIGURE = PROJECT_ROOT / "docs" / "scale_curve.png"


@dataclass
class Point:
    """One measured step: what ran, on how much data, how long and how much memory it took."""

    symbols: int
    years: float
    bars: int
    engine: str  # duckdb, spark, pandas
    step: str  # full, one_day (pandas: the 21-feature subset on the whole history)
    seconds: float
    peak_bytes: int
    ok: bool
    note: str = ""


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(stat.parent.name))
    return tree


def tree_rss(root: int) -> int:
    """Resident bytes of a process and all its descendants."""
    tree, total, stack = _children(), 0, [root]
    while stack:
        pid = stack.pop()
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE
        except (OSError, IndexError, ValueError):
            continue
        stack += tree.get(pid, [])
    return total


def measured(command: list[str], env: dict[str, str], log: Path) -> tuple[float, int, bool, str]:
    """Run a command; its wall time, the peak resident memory of its process tree, success, last line."""
    started = time.perf_counter()
    with log.open("a") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
        peak = 0
        done = threading.Event()

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, tree_rss(process.pid))
                done.wait(0.2)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        code = process.wait()
        done.set()
        sampler.join()
    seconds = time.perf_counter() - started
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    return seconds, peak, code == 0, (lines[-1][:200] if lines and code != 0 else "")


def build_command(target: str) -> list[str]:
    return [sys.executable, "-m", "featurecast.cli", "build", "--target", target]


PANDAS_SNIPPET = """
import sys, time, pandas as pd
sys.path.insert(0, {root!r})
from bench.features import pandas_features
bars = pd.read_parquet({path!r})
started = time.perf_counter()
pandas_features(bars)
print(f"pandas_seconds={{time.perf_counter() - started:.3f}}")
"""


def run_size(symbols: int, years: float, args: argparse.Namespace, stopped: dict[str, str]) -> list[Point]:
    workdir = args.workdir / f"{symbols}x{years:g}"
    workdir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "FEATURECAST_WAREHOUSE"}
    env |= {"FEATURECAST_DATA_DIR": str(workdir), "DO_NOT_TRACK": "1", "FEATURECAST_ENGINE": "duckdb"}
    env["FEATURECAST_ANALYST_COPY"] = args.analyst_copy
    copy_note = "" if args.analyst_copy == "on" else "no analysts' copy"
    log = workdir / "bench.log"
    prices = generate(SyntheticSpec(n_symbols=symbols, years=years, seed=args.seed)).prices
    sessions = sorted(prices["date"].unique())
    history, last_day = prices[prices["date"] < sessions[-1]], prices[prices["date"] == sessions[-1]].copy()
    bars, history_bars = len(prices), len(history)
    land(workdir / "warehouse.duckdb", history, source="synthetic")
    bars_file = workdir / "bars.parquet"
    if symbols <= args.pandas_max:
        history.to_parquet(bars_file)
    del prices, history  # the builds, not this process, should hold the memory
    gc.collect()
    points: list[Point] = []
    engines = [e for e in args.engines if e not in stopped and (e != "spark" or symbols <= args.spark_max)]
    for engine in engines:
        seconds, peak, ok, note = measured(build_command(engine), env, log)
        points.append(Point(symbols, years, history_bars, engine, "full", seconds, peak, ok, note or copy_note))
        print(f"  {engine:<7} full build      {seconds:8.1f} s  peak {peak / 1e9:6.2f} GB  {'ok' if ok else note}")
        if not ok or seconds > args.budget_minutes * 60:
            stopped[engine] = f"stopped after {symbols} symbols ({'failed' if not ok else 'over budget'})"
    land(workdir / "warehouse.duckdb", last_day, source="synthetic")
    for engine in [e for e in engines if points_ok(points, e) and not args.full_only]:
        seconds, peak, ok, note = measured(build_command(engine), env, log)
        points.append(Point(symbols, years, bars, engine, "one_day", seconds, peak, ok, note or copy_note))
        print(f"  {engine:<7} one-day build   {seconds:8.1f} s  peak {peak / 1e9:6.2f} GB  {'ok' if ok else note}")
    if bars_file.exists():
        snippet = PANDAS_SNIPPET.format(root=str(PROJECT_ROOT), path=str(bars_file))
        seconds, peak, ok, note = measured([sys.executable, "-c", snippet], env, log)
        found = [line for line in log.read_text().splitlines() if line.startswith("pandas_seconds=")]
        inner = float(found[-1].split("=")[1]) if ok and found else seconds
        points.append(Point(symbols, years, history_bars, "pandas", "subset_21", inner, peak, ok, note))
        print(f"  pandas  21 features     {inner:8.1f} s  peak {peak / 1e9:6.2f} GB  {'ok' if ok else note}")
        bars_file.unlink(missing_ok=True)
    if not args.keep:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return points


def points_ok(points: list[Point], engine: str) -> bool:
    return any(p.engine == engine and p.step == "full" and p.ok for p in points)


def plot(points: list[Point], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2))
    series = [
        ("duckdb", "full", "DuckDB full build", "-o"),
        ("duckdb", "one_day", "DuckDB one-day build", "--o"),
        ("spark", "full", "Spark local[2] full build", "-s"),
        ("spark", "one_day", "Spark local[2] one-day build", "--s"),
        ("pandas", "subset_21", "pandas, 21 features", ":^"),
    ]
    for engine, step, label, style in series:
        chosen = sorted((p for p in points if p.engine == engine and p.step == step and p.ok), key=lambda p: p.symbols)
        if not chosen:
            continue
        xs = [p.symbols for p in chosen]
        left.plot(xs, [p.seconds for p in chosen], style, label=label)
        right.plot(xs, [p.peak_bytes / 1e9 for p in chosen], style, label=label)
    years = sorted({p.years for p in points})
    for axis, title, unit in ((left, "wall time", "seconds"), (right, "peak memory (all processes)", "GB")):
        axis.set_xscale("log")
        axis.set_xlabel(f"symbols ({', '.join(f'{y:g}' for y in years)} years of daily bars)")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
    left.set_yscale("log")
    right.axhline(MACHINE_BYTES / 1e9, color="grey", linewidth=1)
    right.text(right.get_xlim()[0], MACHINE_BYTES / 1e9, " this machine's memory", va="bottom", fontsize=8)
    left.legend(fontsize=8)
    fig.suptitle(f"featurecast scale curve ({os.cpu_count()} cores, {MACHINE_BYTES / 2**30:.0f} GiB)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def print_table(points: list[Point]) -> None:
    print("\nsymbols  bars         engine  step       seconds   peak GB  rows/s")
    for p in sorted(points, key=lambda p: (p.symbols, p.engine, p.step)):
        rate = f"{p.bars / p.seconds:>12,.0f}" if p.ok and p.seconds and p.step != "one_day" else "           -"
        print(
            f"{p.symbols:>7,}  {p.bars:>11,}  {p.engine:<6}  {p.step:<9} {p.seconds:9.1f} {p.peak_bytes / 1e9:9.2f}"
            f"  {rate}{'  FAILED: ' if not p.ok else '  ' if p.note else ''}{p.note}"
        )
    by = {(p.symbols, p.engine, p.step): p for p in points if p.ok}
    print("\nratios at each size (each: how many times the first takes the second's time):")
    for symbols in sorted({p.symbols for p in points}):
        duck, spark = by.get((symbols, "duckdb", "full")), by.get((symbols, "spark", "full"))
        pandas = by.get((symbols, "pandas", "subset_21"))
        parts = []
        if duck and spark:
            parts.append(f"Spark / DuckDB full build {spark.seconds / duck.seconds:.1f}x")
        if duck and pandas:
            ratio = pandas.seconds / duck.seconds
            parts.append(f"pandas 21 features / DuckDB full build (all features and tests) {ratio:.2f}x")
        one = by.get((symbols, "duckdb", "one_day"))
        if duck and one:
            parts.append(f"DuckDB full / one-day {duck.seconds / one.seconds:.1f}x")
        print(f"  {symbols:>6,} symbols: " + ("; ".join(parts) or "-"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--symbols", type=int, nargs="+", default=[100, 500, 2000, 5000])
    parser.add_argument("--years", type=float, default=20.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--spark-max", type=int, default=2000, help="largest universe tried on Spark")
    parser.add_argument("--pandas-max", type=int, default=2000, help="largest universe for the pandas baseline")
    parser.add_argument("--engines", nargs="+", choices=("duckdb", "spark"), default=["duckdb", "spark"])
    parser.add_argument("--full-only", action="store_true", help="skip the one-day builds (one point per engine)")
    parser.add_argument("--budget-minutes", type=float, default=60.0, help="an engine stops after a slower build")
    parser.add_argument(
        "--analyst-copy",
        choices=("on", "off"),
        default="on",
        help="off: builds publish no analysts' copy (FEATURECAST_ANALYST_COPY), for a disk that cannot hold the "
        "warehouse twice",
    )
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--keep", action="store_true", help="keep each size's warehouse")
    parser.add_argument(
        "--plot",
        type=Path,
        nargs="+",
        help="only redraw the figure from results files (a later file wins for the same point)",
    )
    parser.add_argument("--figure", type=Path, default=FIGURE)
    args = parser.parse_args()
    if args.plot:
        # A later results file replaces an earlier measurement of the same point.
        latest = {}
        for path in args.plot:
            for point in (Point(**p) for p in json.loads(path.read_text())):
                latest[(point.symbols, point.years, point.engine, point.step)] = point
        stored = list(latest.values())
        plot(stored, args.figure)
        print_table(stored)
        print(f"figure: {args.figure}")
        return
    args.workdir = args.workdir or Path(tempfile.mkdtemp(prefix="featurecast-scale-"))
    print(
        f"featurecast scale curve: {', '.join(map(str, args.symbols))} symbols x {args.years:g} years; "
        f"{platform.machine()}, {os.cpu_count()} cores, {MACHINE_BYTES / 2**30:.0f} GiB; workdir {args.workdir}; "
        f"DuckDB memory limit {Settings.from_env().duckdb_memory_limit}; analysts' copy {args.analyst_copy}"
    )
    results = args.workdir / "scale_curve.json"
    points: list[Point] = []
    stopped: dict[str, str] = {}
    for symbols in sorted(args.symbols):
        print(f"{symbols:,} symbols:")
        points += run_size(symbols, args.years, args, stopped)
        results.write_text(json.dumps([asdict(p) for p in points], indent=1))
        plot(points, args.figure)
    for engine, why in stopped.items():
        print(f"{engine}: {why}")
    print_table(points)
    print(f"results: {results}\nfigure: {args.figure}")


if __name__ == "__main__":
    main()
