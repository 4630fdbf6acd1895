"""What a dbt stage must do tonight, and why: a pure function of what is known before it runs.

`plan_stage(StageFacts) -> StagePlan` decides, without touching dbt or the warehouse:

| facts (first that holds)                                  | action      | SQL tests, seeds, views |
|-----------------------------------------------------------|-------------|-------------------------|
| a full refresh was asked for                              | full        | yes |
| no warehouse yet                                          | full        | yes |
| the project variables or the feature catalogue changed    | full        | yes |
| the project's files changed since its SQL tests passed    | incremental | yes |
| a view of the project is missing from the warehouse       | incremental | yes |
| an earlier stage tonight rebuilt tables it reads          | incremental | no  |
| a source table it reads changed since it last built       | incremental | no  |
| nothing of the above                                      | skip        | no  |

When the features stage's only changed sources are the new bars (`NEW_BARS`), it builds what reads them
(selector `features_new_bars`): the calendar, the seeds and the models and tests that read only them
keep what the last build made of the same inputs.

"incremental" rebuilds from the session before the first changed bar (macros/incremental_start_date.sql)
and runs the data tests on the changed dates; "skip" runs nothing: the stage's tables already are what a
build would make of the same sources and the same project (tests/python/test_night_plan.py proves a
night after a full run gives the same tables as a full rebuild). The facts are gathered by
`dbt_project.runner.stage_facts`; the nightly flow logs each plan and the run summary prints it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

FEATURES_SELECTOR = "features"
PORTFOLIO_BOOKS_SELECTOR = "portfolio_books"
EVALUATION_SELECTOR = "evaluation"
ALL = "all"
# The source tables each stage reads (tests/python/test_night_plan.py checks them against dbt's graph).
# "all" (a build without a selector) reads every one of them.
STAGE_SOURCES: dict[str, tuple[str, ...]] = {
    FEATURES_SELECTOR: (
        "market.daily_ohlcv",
        "market.load_batches",
        "market.quarantine_releases",
        "market.symbol_properties",
        "ml.portfolio_books",
    ),
    PORTFOLIO_BOOKS_SELECTOR: ("ml.portfolio_books",),
    EVALUATION_SELECTOR: ("ml.forecasts", "ml.regime_history", "ml.regime_models"),
}
STAGE_SOURCES[ALL] = tuple(sorted({s for sources in STAGE_SOURCES.values() for s in sources}))
# New bars: what an ordinary night lands. What reads neither (the calendar, the seeds) keeps its tables.
NEW_BARS = ("market.daily_ohlcv", "market.load_batches")
# The stages a build of each stage brings up to date, for the source tables both read: a build of
# everything covers each stage; the features stage contains the portfolio books; and the portfolio books'
# models are the only ones of the features stage that read ml.portfolio_books.
COVERS: dict[str, tuple[str, ...]] = {
    ALL: (ALL, FEATURES_SELECTOR, PORTFOLIO_BOOKS_SELECTOR, EVALUATION_SELECTOR),
    FEATURES_SELECTOR: (FEATURES_SELECTOR, PORTFOLIO_BOOKS_SELECTOR),
    PORTFOLIO_BOOKS_SELECTOR: (PORTFOLIO_BOOKS_SELECTOR, FEATURES_SELECTOR),
    EVALUATION_SELECTOR: (EVALUATION_SELECTOR,),
}

Action = Literal["full", "incremental", "skip"]


@dataclass(frozen=True)
class StageFacts:
    """What is known about one stage before it runs."""

    stage: str
    warehouse_exists: bool = True
    full_refresh_requested: bool = False
    vars_changed: bool = False  # the project variables or feature catalogue differ from the last build's
    code_changed: bool = False  # the project's files (or the Python side's tables) differ from the last SQL-test pass
    code_change: str = ""  # why, in words
    views_missing: bool = False
    upstream_rebuilt: tuple[str, ...] = ()  # stages rebuilt earlier tonight whose tables this one reads
    # Source tables (as `source.table`) -> state now, and as the stage's last successful build found them
    # (None: no record of a build of this stage on this warehouse).
    sources_now: dict[str, str] = field(default_factory=dict)
    sources_built: dict[str, str] | None = None
    built_at: str | None = None


@dataclass(frozen=True)
class StagePlan:
    stage: str
    action: Action
    sql_tests: bool  # unit tests and macro fixture tests run, seeds reload, views are recreated
    reason: str
    # For an incremental run caused by new data alone: the source tables that changed. A features stage
    # whose only change is new bars builds just what reads them (selector features_new_bars).
    changed_sources: tuple[str, ...] = ()

    @property
    def new_bars_only(self) -> bool:
        return bool(self.changed_sources) and set(self.changed_sources) <= set(NEW_BARS)

    @property
    def runs(self) -> bool:
        return self.action != "skip"

    def describe(self) -> str:
        what = {"full": "full rebuild", "incremental": "incremental", "skip": "skipped"}[self.action]
        tests = " with the SQL tests" if self.sql_tests else ""
        return f"dbt {self.stage}: {what}{tests} ({self.reason})"


def changed_sources(facts: StageFacts) -> list[str]:
    """The stage's source tables whose state differs from its last build's, sorted."""
    built = facts.sources_built or {}
    return sorted(name for name in STAGE_SOURCES[facts.stage] if facts.sources_now.get(name) != built.get(name))


def plan_stage(facts: StageFacts) -> StagePlan:
    """The first rule of the table above that holds decides."""
    stage = facts.stage
    if facts.full_refresh_requested:
        return StagePlan(stage, "full", True, "a full refresh was asked for")
    if not facts.warehouse_exists:
        return StagePlan(stage, "full", True, "first build of this warehouse")
    if facts.vars_changed:
        return StagePlan(
            stage, "full", True, "the project variables or the feature catalogue changed since the last build"
        )
    if facts.code_changed:
        reason = facts.code_change or "the project's files changed since its SQL tests last passed here"
        return StagePlan(stage, "incremental", True, reason)
    if facts.views_missing:
        return StagePlan(stage, "incremental", True, "a view of the project is missing from the warehouse")
    if facts.upstream_rebuilt:
        return StagePlan(stage, "incremental", False, f"{', '.join(facts.upstream_rebuilt)} rebuilt before it")
    if facts.sources_built is None or not facts.sources_now:
        return StagePlan(stage, "incremental", False, "no record of its last build on this warehouse")
    changed = changed_sources(facts)
    if changed:
        return StagePlan(stage, "incremental", False, "new data in " + ", ".join(changed), tuple(changed))
    since = f" since {facts.built_at}" if facts.built_at else ""
    return StagePlan(stage, "skip", False, f"its sources and the project are unchanged{since}")
