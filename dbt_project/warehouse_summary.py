"""A short, human-readable account of what the warehouse holds after a build (for `featurecast run`)."""

from __future__ import annotations

from pathlib import Path

import duckdb

MARTS = [
    "fct_daily_features",
    "fct_market_features",
    "fct_daily_labels",
    "fct_training_set",
    "fct_price_quarantine",
    "dim_symbols",
    "dim_trading_calendar",
]


def summarize(warehouse: Path) -> str:
    """Rows per mart, the data window, guardrail findings by rule and stale symbols."""
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        lines = ["", "marts:"]
        for mart in MARTS:
            (rows,) = con.execute(f"select count(*) from marts.{mart}").fetchone()
            lines.append(f"  marts.{mart:<22} {rows:>10,} rows")
        first, last, symbols = con.execute(
            "select min(date), max(date), count(distinct symbol) from marts.fct_daily_features"
        ).fetchone()
        lines.append(f"features: {symbols} symbols from {first} to {last}")
        findings = con.execute(
            "select rule, action, count(*) from marts.fct_price_quarantine group by all order by 1"
        ).fetchall()
        if findings:
            lines.append("guardrail findings: " + ", ".join(f"{rule} {n} ({action})" for rule, action, n in findings))
        else:
            lines.append("guardrail findings: none")
        stale = [s for (s,) in con.execute("select symbol from marts.dim_symbols where is_stale order by 1").fetchall()]
        lines.append(f"stale symbols: {', '.join(stale) if stale else 'none'}")
        return "\n".join(lines)
    finally:
        con.close()
