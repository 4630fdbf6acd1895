"""A short, human-readable account of what the warehouse holds after a build (for `featurecast run`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from dbt_project.feature_catalog import load_catalog
from featurecast.marts import MartReader, reader_for

MARTS = [
    "fct_daily_features",
    "fct_market_features",
    "fct_daily_labels",
    "fct_training_set",
    "fct_price_quarantine",
    "dim_symbols",
    "dim_trading_calendar",
]


def one_row(marts: MartReader, sql: str) -> tuple[Any, ...]:
    return marts.rows(sql)[0]


def summarize(warehouse: MartReader | Path) -> str:
    """Rows per mart, the data window, guardrail findings by rule and stale symbols (from the marts of
    either engine: a path is the DuckDB warehouse)."""
    con = reader_for(warehouse)
    lines = ["", "marts:"]
    for mart in MARTS:
        (rows,) = one_row(con, f"select count(*) from marts.{mart}")
        lines.append(f"  marts.{mart:<22} {rows:>10,} rows")
    first, last, symbols = one_row(
        con, "select min(date), max(date), count(distinct symbol) from marts.fct_daily_features"
    )
    lines.append(f"features: {symbols} symbols from {first} to {last}")
    findings = con.rows("select rule, action, count(*) from marts.fct_price_quarantine group by all order by 1")
    if findings:
        lines.append("guardrail findings: " + ", ".join(f"{rule} {n} ({action})" for rule, action, n in findings))
    else:
        lines.append("guardrail findings: none")
    lines += _accounting_lines(con)
    stale = [s for (s,) in con.rows("select symbol from marts.dim_symbols where is_stale order by 1")]
    lines.append(f"stale symbols: {', '.join(stale) if stale else 'none'}")
    return "\n".join(lines)


def data_summary(warehouse: MartReader | Path) -> str:
    """Where every bar went, what each symbol's data cannot give (volume, the intraday range), the roles and
    the universe: what `featurecast build` prints after a whole build."""
    return "\n".join(_accounting_lines(reader_for(warehouse)))


def _needing_range() -> list[str]:
    """The features the catalogue says need the open or the intraday range (null on close-only bars)."""
    return [d.name for d in load_catalog() if {"open", "high", "low"} & set(d.needs)]


def _listed(names: list[str], shown: int = 8) -> str:
    return ", ".join(names[:shown]) + (f" and {len(names) - shown} more" if len(names) > shown else "")


def _accounting_lines(con: MartReader) -> list[str]:
    """Where every bar went, which symbols have no volume, and how many dates are too small a universe."""
    landed, in_features, quarantined = one_row(
        con, "select sum(bars), sum(feature_bars), sum(quarantined_bars) from marts.dim_symbols"
    )
    lines = [f"bars: {landed or 0:,} landed = {in_features or 0:,} in features + {quarantined or 0:,} quarantined"]
    no_volume = con.rows("select symbol, volume_basis from marts.dim_symbols where not has_volume order by symbol")
    gaps = one_row(
        con, "select count(*) from marts.fct_daily_features where volume_status in ('zero_volume', 'not_reported')"
    )[0]
    without = _listed([f"{symbol} ({basis})" for symbol, basis in no_volume]) or "none"
    close_only = con.rows(
        "select symbol, price_fields from marts.dim_symbols where price_fields <> 'ohlc' order by symbol"
    )
    if close_only:
        lines.append(
            f"features unavailable: range (close-only source: no open/high/low) for {len(close_only)} symbol(s): "
            f"{_listed([s if kind == 'close_only' else f'{s} (some bars)' for s, kind in close_only])}; "
            f"{', '.join(_needing_range())} are null there (marts.dim_symbols.unavailable_features says per symbol)"
        )
    benchmarks = con.rows("select symbol, role_basis from marts.dim_symbols where not is_tradable order by symbol")
    if benchmarks:
        lines.append(
            f"roles: benchmark(s) {_listed([f'{s} ({basis})' for s, basis in benchmarks])}: features kept, never "
            "a training row, a signal, a holding or traded"
        )
    lines.append(
        f"volume: symbols without volume: {without}; {gaps:,} other bars reported zero or no volume "
        "(volume features null there)"
    )
    small, dates, series, smallest = one_row(
        con,
        "select count(*) filter (where is_small_universe), count(*), any_value(market_series), min(n_symbols) "
        "from marts.fct_market_features",
    )
    if small:
        hint = ""
        if series == "equal_weight":
            hint = " (null there too: set FEATURECAST_MARKET_SERIES to a benchmark symbol)"
        lines.append(
            f"small universe: {small:,} of {dates:,} dates have too few symbols (as few as {smallest}): "
            f"cross-sectional ranks, breadth and dispersion are null there; market series: {series}{hint}"
        )
    else:
        lines.append(f"universe: every date has enough symbols; market series: {series}")
    return lines
