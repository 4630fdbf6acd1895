"""Source freshness, judged by the limits the dbt project declares, without starting dbt.

`dbt source freshness` reads each source table's `loaded_at_field` and its `warn_after`/`error_after`
from the sources YAML (a table's own setting over its source's) and compares `max(loaded_at_field)` with
the clock. Starting dbt for that costs the nightly flow a second dbt start-up (8-10 s on the real-data
set); the same judgement is one small query per table. The YAML stays the one place the limits live, so
`dbt source freshness` at the root and the flow agree (tests/python/test_freshness.py checks both on one
warehouse).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dbt_project.project_files import read_yaml
from featurecast.config import PROJECT_ROOT
from featurecast.duckdb_rows import one_row

SOURCE_FILES = ("models/staging/market/_market__sources.yml",)
_PERIODS = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}


@dataclass(frozen=True)
class SourceFreshness:
    """One source table's freshness as `dbt source freshness` judges it (limits in _market__sources.yml)."""

    source: str  # e.g. market.daily_ohlcv
    status: str  # pass, warn, error, runtime error
    max_loaded_at: str | None
    age_hours: float | None

    def describe(self) -> str:
        if self.age_hours is None:
            return f"{self.source}: {self.status}"
        return f"{self.source}: {self.status}, last loaded {self.max_loaded_at} UTC ({self.age_hours:.1f} h ago)"


@dataclass(frozen=True)
class FreshnessRule:
    """What dbt would check for one source table: where, which column, and after how long it warns or errors."""

    source: str
    schema: str
    table: str
    loaded_at_field: str
    warn_after: timedelta | None
    error_after: timedelta | None


def _limit(spec: dict[str, Any] | None) -> timedelta | None:
    if not spec or spec.get("count") is None:
        return None
    return int(spec["count"]) * _PERIODS[str(spec["period"])]


def freshness_rules(project_root: Path = PROJECT_ROOT) -> list[FreshnessRule]:
    """The tables `dbt source freshness` checks, with their limits, as the sources YAML declares them:
    a table's `loaded_at_field` and `freshness` override its source's; `freshness: null` switches it off."""
    rules = []
    for name in SOURCE_FILES:
        for source in read_yaml(project_root / name)["sources"]:
            for table in source.get("tables", []):
                freshness = table["freshness"] if "freshness" in table else source.get("freshness")
                field = table.get("loaded_at_field", source.get("loaded_at_field"))
                if not freshness or not field:
                    continue
                rules.append(
                    FreshnessRule(
                        source=f"{source['name']}.{table['name']}",
                        schema=source.get("schema", source["name"]),
                        table=table.get("identifier", table["name"]),
                        loaded_at_field=field,
                        warn_after=_limit(freshness.get("warn_after")),
                        error_after=_limit(freshness.get("error_after")),
                    )
                )
    return sorted(rules, key=lambda r: r.source)


def judge(rule: FreshnessRule, loaded_at: datetime | None, now: datetime) -> SourceFreshness:
    """dbt's verdict for one table whose newest `loaded_at_field` is `loaded_at` (naive UTC), at `now`."""
    if loaded_at is None:  # dbt: an empty table has no max_loaded_at and errors
        return SourceFreshness(rule.source, "error", None, None)
    age = now - loaded_at
    status = "pass"
    if rule.error_after is not None and age > rule.error_after:
        status = "error"
    elif rule.warn_after is not None and age > rule.warn_after:
        status = "warn"
    return SourceFreshness(rule.source, status, f"{loaded_at:%Y-%m-%d %H:%M}", age.total_seconds() / 3600)


def source_freshness(warehouse: Path, *, now: datetime | None = None) -> list[SourceFreshness]:
    """Each raw source's freshness on the DuckDB warehouse, by the project's declared limits. A table that
    is missing or cannot be read is a `runtime error` (dbt's status), never an exception: freshness is a
    finding to report, the structural guardrails decide what fails."""
    import duckdb

    now = now or datetime.now(UTC).replace(tzinfo=None)
    rules = freshness_rules()
    try:
        con = duckdb.connect(str(warehouse), read_only=True)
    except duckdb.Error:
        return [SourceFreshness(rule.source, "runtime error", None, None) for rule in rules]
    found = []
    try:
        for rule in rules:
            try:
                (loaded,) = one_row(
                    con, f'select max(cast("{rule.loaded_at_field}" as timestamp)) from "{rule.schema}"."{rule.table}"'
                )
            except duckdb.Error:
                found.append(SourceFreshness(rule.source, "runtime error", None, None))
                continue
            found.append(judge(rule, loaded, now))
    finally:
        con.close()
    return found
