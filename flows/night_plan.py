"""The night's plan: what `daily_refresh` runs, skips or only checks, and why, before any of it runs.

`plan_night(NightFacts) -> list[Step]` is pure: the facts are gathered by `night_facts` (a few small
queries, no dbt), and the dbt stages' own decisions come from `dbt_project.plan.plan_stage`. The flow
logs the plan when it starts; the stages decided by what happens earlier in the night (the portfolio
books after the backtest, the evaluation after the forecasts, the snapshot at the end) say what they
wait for, and the run summary prints every step as it was finally decided.

Cost follows the new day: with nothing new, the dbt stages and the steps downstream of new features
(scoring, the backtest) are skipped; the regime refresh and the forecast issue only look for days they
have not labelled or issued yet; the backtest replays its book only when an input inside the book's
window changed (the out-of-fold signals end where their labels matured, so a new session usually
changes none), and the portfolio books' stage runs only when it did; the snapshot is published only when
something it serves changed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import duckdb

from dbt_project.plan import StagePlan
from featurecast.config import Settings
from featurecast.duckdb_rows import one_row

Action = Literal["run", "skip", "check", "decide later"]


@dataclass(frozen=True)
class Step:
    name: str
    action: Action
    reason: str

    def describe(self) -> str:
        return f"{self.name}: {self.action} ({self.reason})"


@dataclass(frozen=True)
class NightFacts:
    source: str  # where new bars come from: synthetic, alphavantage, none (landed beforehand)
    features: StagePlan  # the features stage's plan
    champion: str | None  # the champion signal model's version, None before the first training
    scored_by: str | None  # the model version of the newest scores in ml.signals
    scored_through: date | None  # the newest date scored
    features_through: date | None  # the newest date in marts.fct_daily_features


def plan_night(facts: NightFacts) -> list[Step]:
    """Every step of the night in order, each with what it will do and why."""
    steps = [
        Step("ingest", "skip", "source none: the bars were landed beforehand")
        if facts.source == "none"
        else Step("ingest", "run", f"new bars from {facts.source}"),
        Step("source freshness", "run", "one query per source table, by the limits the sources YAML declares"),
        Step("dbt build: features and guardrails", "run" if facts.features.runs else "skip", _stage(facts.features)),
    ]
    if facts.champion is None:
        steps.append(Step("train models", "run", "no champion signal model yet"))
        score = Step("score signals", "run", "with the model just trained, if it is promoted")
    else:
        steps.append(Step("train models", "skip", f"champion {facts.champion}; training is the weekly flow"))
        score = _scoring(facts)
    steps += [
        score,
        Step("refresh regimes", "check", "labels the market days after its last label, if any"),
        Step("backtest", "check", "replays the champion's out-of-fold book if an input inside its window changed")
        if score.action == "run"
        else Step("backtest", "skip", "no new signals since the last backtest"),
        Step("dbt build: portfolio books", "decide later", "after the backtest: runs when the book changed"),
        Step("issue forecasts", "check", "issues the issue dates not issued yet, if any"),
        Step(
            "dbt build: evaluation",
            "decide later",
            "after the forecasts: runs when forecasts, regime labels or the marts it reads changed",
        ),
        Step("publish snapshot", "decide later", "at the end: published when anything it serves changed"),
    ]
    return steps


def _stage(plan: StagePlan) -> str:
    if plan.action == "incremental" and not plan.sql_tests:
        return plan.reason
    how = {"full": "full rebuild", "incremental": "incremental", "skip": "skipped"}[plan.action]
    return f"{how}{' with the SQL tests' if plan.sql_tests else ''}: {plan.reason}"


def _scoring(facts: NightFacts) -> Step:
    if facts.features.runs:
        return Step("score signals", "run", "the features are rebuilt")
    if facts.scored_by != facts.champion:
        return Step("score signals", "run", f"the newest scores are not the champion's ({facts.scored_by or 'none'})")
    if facts.features_through is not None and (facts.scored_through or date.min) < facts.features_through:
        return Step("score signals", "run", f"scores end {facts.scored_through}, features {facts.features_through}")
    return Step("score signals", "skip", f"the champion's scores are current through {facts.scored_through}")


def night_facts(settings: Settings, source: str) -> NightFacts:
    """What the plan needs, read before anything runs: the features stage's facts (dbt_project.runner.
    stage_facts: a few small queries and file reads, no dbt), the champion and the newest scores."""
    from dbt_project.plan import FEATURES_SELECTOR, StagePlan, plan_stage
    from dbt_project.runner import stage_facts
    from ml.signals.registry import champion

    if settings.dbt_target is None:
        features = plan_stage(stage_facts(settings, FEATURES_SELECTOR))
    else:
        features = StagePlan(FEATURES_SELECTOR, "incremental", False, f"on {settings.dbt_target}: built every night")
    if not settings.warehouse_path.exists():
        return NightFacts(source, features, None, None, None, None)
    entry = champion(settings.warehouse_path, settings.signal_horizon)
    scored_by = scored_through = features_through = None
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        tables = {f"{s}.{t}" for s, t in con.execute("select schema_name, table_name from duckdb_tables()").fetchall()}
        if "ml.signals" in tables:
            found = con.execute(
                "select model_version, date from ml.signals where horizon = ? order by date desc limit 1",
                [settings.signal_horizon],
            ).fetchone()
            scored_by, scored_through = found if found else (None, None)
        if {"marts.fct_daily_features", "marts.dim_symbols"} <= tables:
            (features_through,) = one_row(
                con,
                "select max(f.date) from marts.fct_daily_features as f join marts.dim_symbols as d using (symbol) "
                "where d.is_tradable",
            )
    finally:
        con.close()
    return NightFacts(source, features, entry.version if entry else None, scored_by, scored_through, features_through)
