"""The one place featurecast reads its configuration.

Every setting is an environment variable with a default, so the quick start needs none of them.
`Settings.from_env()` is called at the edges (CLI, flows, tests); everything below takes a
`Settings` argument instead of reading the environment itself.

| variable | default | meaning |
|---|---|---|
| FEATURECAST_DATA_DIR | ./data | where the warehouse, logs and artifacts live |
| FEATURECAST_WAREHOUSE | $FEATURECAST_DATA_DIR/warehouse.duckdb | the DuckDB warehouse file dbt builds into |
| FEATURECAST_SYNTHETIC_SYMBOLS | 40 | symbols in the embedded synthetic universe |
| FEATURECAST_SYNTHETIC_YEARS | 6 | years of history in the embedded synthetic universe |
| FEATURECAST_SYNTHETIC_SEED | 7 | seed of the synthetic generator (same seed, same data) |
| FEATURECAST_SYNTHETIC_END | 2026-10-30 | last session of the synthetic history (fixed, so runs repeat) |
| ALPHAVANTAGE_API_KEY | (unset) | Alpha Vantage key; only the alphavantage provider needs it |
| ALPHAVANTAGE_BASE_URL | https://www.alphavantage.co/query | endpoint (tests point it at a loopback replay server) |
| ALPHAVANTAGE_MAX_RETRIES | 3 | retries after a rate-limit notice or a 5xx before giving up |
| ALPHAVANTAGE_BACKOFF_SECONDS | 15 | first backoff after a per-minute rate-limit notice (doubles, capped at 60 s) |
| ALPHAVANTAGE_TIMEOUT_SECONDS | 30 | HTTP timeout per request |
| MONGODB_URI | (unset) | MongoDB for regimes; unset means the embedded on-disk stand-in |
| FEATURECAST_SIGNAL_HORIZON | 5 | trading sessions the direction signal looks ahead (1, 5 or 21) |
| FEATURECAST_SCORE_DATES | 63 | how many recent dates the nightly scoring writes to ml.signals |
| FEATURECAST_MAX_DATA_AGE_DAYS | 4 | a signal whose market data is older than this many days is marked stale |
| FEATURECAST_MAX_SESSIONS_BEHIND | 3 | a signal whose symbol feed lags the market by more sessions is marked stale |
| FEATURECAST_MARKET_SERIES | equal_weight | market for beta, correlation, regimes: equal_weight or a symbol (^GSPC) |
| FEATURECAST_REGIME_STATES | 2,3 | numbers of regime states compared by BIC at every regime fit |
| FEATURECAST_REGIME_REFIT_SESSIONS | 252 | sessions a regime model labels before the next walk-forward refit |
| FEATURECAST_REGIME_MIN_HISTORY | 504 | sessions of market returns before the first point-in-time regime label |
| FEATURECAST_MIN_UNIVERSE_SYMBOLS | 10 | fewest symbols a date needs for ranks, an equal-weight market, rank IC |
| FEATURECAST_ONLINE_FEATURE_SESSIONS | 260 | newest bars per symbol the serving snapshot keeps for GET /features |
| FEATURECAST_ENGINE | duckdb | engine of the marts (dbt builds, the Python side reads): duckdb or spark |
| FEATURECAST_LOCK_TIMEOUT_SECONDS | 120 | how long a writer waits for another to finish before it gives up (exit 5) |
| FEATURECAST_ANALYST_COPY | on | publish the analysts' copy after every write (off: they read the warehouse) |
| FEATURECAST_IMPORT_MAX_BYTES | 4294967296 | largest CSV an import reads, decompressed bytes (more: exit 2) |
| FEATURECAST_IMPORT_MAX_ROWS | 50000000 | most rows one imported CSV may hold (more is refused, exit 2) |
| FEATURECAST_DUCKDB_MEMORY_LIMIT | 60% of RAM | DuckDB's memory limit in dbt builds (12GB); it spills past it |
| FEATURECAST_DBT_LOG_LEVEL | info | what dbt writes to <data dir>/dbt_logs/dbt.log: debug (every SQL statement), info |

Derived paths: model artifacts in `$FEATURECAST_DATA_DIR/models`, serving snapshots in
`$FEATURECAST_DATA_DIR/serving`, the embedded regime store (when MONGODB_URI is unset) in
`$FEATURECAST_DATA_DIR/mongo`, the analysts' read-only copy of the warehouse in
`$FEATURECAST_DATA_DIR/analyst/warehouse.duckdb`, the CLI's error log in `$FEATURECAST_DATA_DIR/logs`.
| DO_NOT_TRACK | 1 (set by featurecast) | keeps dbt and Prefect telemetry off: the machines have no internet |
| PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS | 120 (set by featurecast) | Prefect server start-up |
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import TypedDict

# The repository root holds dbt_project.yml; the Python packages sit beside it (editable install).
PROJECT_ROOT = Path(__file__).resolve().parent.parent


# Fewest symbols on a date for cross-sectional features and a daily rank IC to mean anything.
DEFAULT_MIN_UNIVERSE_SYMBOLS = 10
_SYMBOL = re.compile(r"^[A-Z0-9^][A-Z0-9.\-^=]{0,19}$")


def _env(name: str, default: str) -> str:
    value = os.environ.get(name)
    return default if value is None or value.strip() == "" else value.strip()


def _market_series(value: str) -> str:
    if value.lower() == "equal_weight":
        return "equal_weight"
    if not _SYMBOL.match(value.upper()):
        raise ValueError(f"FEATURECAST_MARKET_SERIES must be equal_weight or a symbol, got {value[:40]!r}")
    return value.upper()


def _engine(value: str) -> str:
    if value.lower() not in ("duckdb", "spark"):
        raise ValueError(f"FEATURECAST_ENGINE must be duckdb or spark, got {value[:40]!r}")
    return value.lower()


DBT_LOG_LEVELS = ("debug", "info", "warn", "error", "none")


def _dbt_log_level(value: str) -> str:
    if value.lower() not in DBT_LOG_LEVELS:
        raise ValueError(f"FEATURECAST_DBT_LOG_LEVEL must be one of {', '.join(DBT_LOG_LEVELS)}, got {value[:40]!r}")
    return value.lower()


def _positive_int(name: str, default: int, *, minimum: int = 1) -> int:
    raw = _env(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw[:40]!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")
    return value


def _positive_float(name: str, default: float) -> float:
    value = _non_negative_float(name, default)
    if value == 0:
        raise ValueError(f"{name} must be greater than 0")
    return value


def _horizon(name: str, default: int) -> int:
    value = _positive_int(name, default)
    if value not in (1, 5, 21):
        raise ValueError(f"{name} must be 1, 5 or 21 sessions (the labels the marts carry), got {value}")
    return value


def _state_counts(name: str, default: str) -> tuple[int, ...]:
    raw = _env(name, default)
    try:
        values = tuple(sorted({int(part) for part in raw.split(",") if part.strip()}))
    except ValueError:
        raise ValueError(f"{name} must be numbers of states separated by commas (e.g. 2,3), got {raw[:40]!r}") from None
    if not values or any(v < 2 or v > 4 for v in values):
        raise ValueError(f"{name} must list numbers of states from 2 to 4, got {raw[:40]!r}")
    return values


def _iso_date(name: str, default: str) -> date:
    raw = _env(name, default)
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValueError(f"{name} must be a date as YYYY-MM-DD, got {raw[:40]!r}") from None


_MEMORY = re.compile(r"^\d+(\.\d+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$", re.IGNORECASE)
# Share of physical memory a dbt build's DuckDB may hold before it spills to disk. DuckDB's own default
# (80%) leaves too little for the process around it: a 2,000-symbol x 20-year build peaked at 19.7 GB on
# a 24 GiB machine (bench/scale_curve.py).
MEMORY_SHARE = 0.6


def physical_memory_bytes() -> int:
    """This machine's physical memory (Linux and macOS: sysconf); 8 GiB when it cannot be read."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, OSError, ValueError):
        return 8 * 2**30


def _switch(name: str, default: str) -> bool:
    raw = _env(name, default).lower()
    if raw not in ("on", "off"):
        raise ValueError(f"{name} must be on or off, got {raw[:40]!r}")
    return raw == "on"


def _memory_limit(name: str) -> str:
    default = f"{max(1, int(physical_memory_bytes() * MEMORY_SHARE / 1e9))}GB"
    raw = _env(name, default)
    if not _MEMORY.match(raw):
        raise ValueError(f"{name} must be an amount of memory such as 12GB or 800MB, got {raw[:40]!r}")
    return raw.replace(" ", "")


def _non_negative_float(name: str, default: float) -> float:
    raw = _env(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number, got {raw[:40]!r}") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite number, at least 0, got {raw[:40]!r}")
    return value


class RegimeOptions(TypedDict):
    """The keyword arguments of `ml.regimes.refresh.refresh_regimes` that configuration sets."""

    candidates: tuple[int, ...]
    refit_every: int
    min_history: int


@dataclass(frozen=True)
class Settings:
    """Resolved configuration. Build one with `Settings.from_env()` or directly in tests."""

    data_dir: Path
    warehouse_path: Path
    synthetic_symbols: int = 40
    synthetic_years: float = 6.0
    synthetic_seed: int = 7
    synthetic_end: date = date(2026, 10, 30)
    alphavantage_api_key: str | None = field(default=None, repr=False)
    alphavantage_base_url: str = "https://www.alphavantage.co/query"
    alphavantage_max_retries: int = 3
    alphavantage_backoff_seconds: float = 15.0
    alphavantage_timeout_seconds: float = 30.0
    mongodb_uri: str | None = field(default=None, repr=False)
    signal_horizon: int = 5
    score_dates: int = 63
    max_data_age_days: int = 4
    max_sessions_behind: int = 3
    market_series: str = "equal_weight"
    min_universe_symbols: int = DEFAULT_MIN_UNIVERSE_SYMBOLS
    lock_timeout_seconds: float = 120.0
    online_feature_sessions: int = 260
    regime_states: tuple[int, ...] = (2, 3)
    regime_refit_sessions: int = 252
    regime_min_history: int = 504
    engine: str = "duckdb"
    duckdb_memory_limit: str = "8GB"
    # dbt's log file: "info" (each node's outcome); "debug" adds every SQL statement and costs about 0.7 s
    # of a nightly build's Python time (dbt logs through the GIL its worker threads share).
    dbt_log_level: str = "info"
    analyst_copy: bool = True
    import_max_bytes: int = 4 * 1024**3
    import_max_rows: int = 50_000_000

    @property
    def dbt_target(self) -> str | None:
        """The profiles.yml output dbt builds on: None (the DuckDB warehouse, `dev`) or `spark`."""
        return None if self.engine == "duckdb" else self.engine

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def serving_dir(self) -> Path:
        return self.data_dir / "serving"

    @property
    def analyst_copy_path(self) -> Path:
        """The read-only copy of the warehouse analysts query (see featurecast.analyst_copy)."""
        return self.data_dir / "analyst" / "warehouse.duckdb"

    @property
    def log_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def regime_store_dir(self) -> Path:
        """The embedded regime store (montydb, SQLite) used when MONGODB_URI is unset."""
        return self.data_dir / "mongo"

    @classmethod
    def from_env(cls) -> Settings:
        data_dir = Path(_env("FEATURECAST_DATA_DIR", "data")).resolve()
        warehouse = Path(_env("FEATURECAST_WAREHOUSE", str(data_dir / "warehouse.duckdb"))).resolve()
        return cls(
            data_dir=data_dir,
            warehouse_path=warehouse,
            synthetic_symbols=_positive_int("FEATURECAST_SYNTHETIC_SYMBOLS", 40),
            synthetic_years=_positive_float("FEATURECAST_SYNTHETIC_YEARS", 6.0),
            synthetic_seed=_positive_int("FEATURECAST_SYNTHETIC_SEED", 7, minimum=0),
            synthetic_end=_iso_date("FEATURECAST_SYNTHETIC_END", "2026-10-30"),
            alphavantage_api_key=os.environ.get("ALPHAVANTAGE_API_KEY") or None,
            alphavantage_base_url=_env("ALPHAVANTAGE_BASE_URL", "https://www.alphavantage.co/query"),
            alphavantage_max_retries=_positive_int("ALPHAVANTAGE_MAX_RETRIES", 3, minimum=0),
            alphavantage_backoff_seconds=_non_negative_float("ALPHAVANTAGE_BACKOFF_SECONDS", 15.0),
            alphavantage_timeout_seconds=_positive_float("ALPHAVANTAGE_TIMEOUT_SECONDS", 30.0),
            mongodb_uri=os.environ.get("MONGODB_URI") or None,
            signal_horizon=_horizon("FEATURECAST_SIGNAL_HORIZON", 5),
            score_dates=_positive_int("FEATURECAST_SCORE_DATES", 63),
            import_max_bytes=_positive_int("FEATURECAST_IMPORT_MAX_BYTES", 4 * 1024**3),
            import_max_rows=_positive_int("FEATURECAST_IMPORT_MAX_ROWS", 50_000_000),
            max_data_age_days=_positive_int("FEATURECAST_MAX_DATA_AGE_DAYS", 4, minimum=0),
            max_sessions_behind=_positive_int("FEATURECAST_MAX_SESSIONS_BEHIND", 3, minimum=0),
            market_series=_market_series(_env("FEATURECAST_MARKET_SERIES", "equal_weight")),
            min_universe_symbols=_positive_int("FEATURECAST_MIN_UNIVERSE_SYMBOLS", DEFAULT_MIN_UNIVERSE_SYMBOLS),
            lock_timeout_seconds=_non_negative_float("FEATURECAST_LOCK_TIMEOUT_SECONDS", 120.0),
            online_feature_sessions=_positive_int("FEATURECAST_ONLINE_FEATURE_SESSIONS", 260),
            regime_states=_state_counts("FEATURECAST_REGIME_STATES", "2,3"),
            regime_refit_sessions=_positive_int("FEATURECAST_REGIME_REFIT_SESSIONS", 252, minimum=21),
            regime_min_history=_positive_int("FEATURECAST_REGIME_MIN_HISTORY", 504, minimum=252),
            engine=_engine(_env("FEATURECAST_ENGINE", "duckdb")),
            duckdb_memory_limit=_memory_limit("FEATURECAST_DUCKDB_MEMORY_LIMIT"),
            dbt_log_level=_dbt_log_level(_env("FEATURECAST_DBT_LOG_LEVEL", "info")),
            analyst_copy=_switch("FEATURECAST_ANALYST_COPY", "on"),
        )

    def regime_options(self) -> RegimeOptions:
        """The keyword arguments of `ml.regimes.refresh.refresh_regimes` that configuration sets."""
        return {
            "candidates": self.regime_states,
            "refit_every": self.regime_refit_sessions,
            "min_history": self.regime_min_history,
        }

    def with_warehouse(self, path: Path) -> Settings:
        """A copy pointing at another warehouse file (tests, benchmarks)."""
        from dataclasses import replace

        return replace(self, warehouse_path=Path(path).resolve(), data_dir=Path(path).resolve().parent)
