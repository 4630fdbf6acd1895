"""Benchmark: `featurecast ingest csv` of a large file, as typed, in its own process: wall time and peak memory.

    .venv/bin/python bench/ingest.py                 # 3 M rows (1,200 symbols x 2,500 sessions, 167 MB)
    .venv/bin/python bench/ingest.py --rows 1000000

Writes a long-layout OHLCV CSV (symbol, date, open, high, low, close, volume) into a temporary directory,
imports it into a fresh warehouse with `featurecast ingest csv` (the analysts' copy off, so the figure is
the import), and prints wall time and the child's peak resident memory. The baseline is the same file read
by plain pandas (`read_csv` with dates parsed), timed in this process.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd


def write_csv(path: Path, rows: int, sessions: int = 2500) -> None:
    symbols = max(rows // sessions, 1)
    days = pd.bdate_range("2012-01-02", periods=sessions).strftime("%Y-%m-%d")
    rng = np.random.default_rng(1)
    close = np.round(50 * np.exp(np.cumsum(rng.normal(0, 0.01, (symbols, sessions)), axis=1)).ravel(), 4)
    pd.DataFrame(
        {
            "symbol": np.repeat([f"S{i:04d}" for i in range(symbols)], sessions),
            "date": np.tile(days, symbols),
            "open": close,
            "high": np.round(close * 1.01, 4),
            "low": np.round(close * 0.99, 4),
            "close": close,
            "volume": rng.integers(1000, 10**6, len(close)),
        }
    ).to_csv(path, index=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=3_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "prices.csv"
        write_csv(csv, args.rows)
        size = csv.stat().st_size
        env = {**os.environ, "FEATURECAST_DATA_DIR": str(Path(tmp) / "data"), "FEATURECAST_ANALYST_COPY": "off"}
        env.pop("FEATURECAST_WAREHOUSE", None)
        binary = Path(sys.executable).parent / "featurecast"
        started = time.perf_counter()
        done = subprocess.run([str(binary), "ingest", "csv", str(csv)], env=env, capture_output=True, text=True)
        wall = time.perf_counter() - started
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        if done.returncode != 0:
            raise SystemExit(f"ingest failed ({done.returncode}): {done.stderr.strip()}")
        started = time.perf_counter()
        pd.read_csv(csv, parse_dates=["date"])
        pandas = time.perf_counter() - started
    print(f"featurecast ingest csv: {args.rows:,} rows ({size / 1e6:.0f} MB)")
    print(f"  {done.stdout.strip()}")
    print(f"  wall {wall:.1f} s, peak memory {peak_mb:,.0f} MB (validated, compared and landed in one transaction)")
    print(f"  plain pandas read_csv of the same file: {pandas:.1f} s (no validation, nothing landed)")
    print(f"  ratio: featurecast / pandas read = {wall / pandas:.1f}x")


if __name__ == "__main__":
    main()
