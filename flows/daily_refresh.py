"""`daily_refresh`: the nightly Prefect flow, from new market data to a published serving snapshot.

    ingest -> dbt build (features + guardrails) -> score signals -> refresh regimes (MongoDB)
           -> backtest -> dbt build (portfolio books: the strategy's book joins fct_portfolio_daily)
           -> issue forecasts -> dbt build (evaluation models) -> publish snapshot

A structural guardrail failure stops the flow at the first dbt build, naming the failing rule; nothing
after it runs (no training, no scores, no snapshot), so the API keeps serving yesterday's snapshot.
Statistical guardrails only warn: the flow goes on and reports them. Each dbt stage is a task run whose
table artifact lists every node's status (`node_tasks=True`: a task run per node, at a cost measured in
bench/daily_refresh.py). With no champion signal model yet, the flow runs `train_models` first.

Cost follows the new day: the night's plan (flows/night_plan.py, logged first and printed in the run
summary) skips a dbt stage whose sources and project are unchanged since its last build, scoring and
the backtest when no features were rebuilt, and the snapshot and the analysts' copy when nothing changed.
The backtest reuses its stored run when nothing inside its book's window changed, and the portfolio books
stage then skips.

Every step is idempotent, so re-running a failed day is running the flow again (docs/runbook.md).
Run it with `featurecast flow daily-refresh` (no server needed) or from its deployment
(`featurecast flow serve`, see flows/deployments.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact

from dbt_project.runner import (
    EVALUATION_SELECTOR,
    FEATURES_SELECTOR,
    PORTFOLIO_BOOKS_SELECTOR,
    DbtBuildError,
    DbtRunSummary,
    build,
)
from featurecast.config import Settings
from featurecast.marts import mart_reader, write_back
from featurecast.writer import exclusive_writer
from flows.summary import RunSummary, collect_summary

T = TypeVar("T")


@dataclass
class StageTimes:
    """Wall-clock seconds per stage, in the order they ran."""

    seconds: dict[str, float] = field(default_factory=dict)

    def run(self, stage: str, step: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one stage and record its wall-clock time (also when it fails)."""
        started = time.perf_counter()
        try:
            return step(*args, **kwargs)
        finally:
            self.seconds[stage] = time.perf_counter() - started


def _retry_only_transient(task, task_run, state) -> bool:
    """Retry a rate limit or a network error; never bad data (it would fail the same way again)."""
    from featurecast.marketdata.errors import IngestError, RateLimitError

    try:
        state.result()
    except RateLimitError:
        return True
    except IngestError:
        return False
    except Exception:
        return True
    return False


@task(
    name="ingest", task_run_name="ingest", retries=2, retry_delay_seconds=30, retry_condition_fn=_retry_only_transient
)
def ingest(settings: Settings, source: str, symbols: list[str] | None) -> dict[str, object]:
    """Land new bars (one batch, all or nothing, idempotent). `none`: the data was landed beforehand."""
    from featurecast.marketdata.service import MarketDataService

    service = MarketDataService(settings)
    if source == "none":
        return {"batch_id": None, "inserted": 0, "updated": 0, "unchanged": 0}
    if source == "synthetic":
        report = service.ingest_synthetic()
    elif source == "alphavantage":
        report = service.ingest_alphavantage(symbols or [])
    else:
        raise ValueError(
            f"unknown source {source!r}: synthetic, alphavantage or none (CSV files: `featurecast ingest csv`, "
            "then source none)"
        )
    return {
        "batch_id": report.batch_id,
        "inserted": report.rows_inserted,
        "updated": report.rows_updated,
        "unchanged": report.rows_unchanged,
    }


@task(name="source freshness", task_run_name="source freshness")
def source_freshness_task(settings: Settings) -> list[str]:
    """Each raw source's freshness by the limits the sources YAML declares (dbt_project/freshness.py, no
    dbt start-up): a source past its warn or error age is reported (logged as a warning and in the run
    summary), not fatal; the structural guardrails decide what fails."""
    from dbt_project.freshness import source_freshness

    logger = get_run_logger()
    lines = []
    for result in source_freshness(settings.warehouse_path):
        lines.append(result.describe())
        if result.status != "pass":
            logger.warning("source freshness: %s", result.describe())
    return lines


def dbt_build(
    settings: Settings, stage: str, *, selector: str, node_tasks: bool, upstream_rebuilt: tuple[str, ...] = ()
) -> DbtRunSummary:
    """A dbt build of one stage (a selector in selectors.yml), as its plan says: skipped when its sources
    and the project are as its last build found them. Raises DbtBuildError naming the failing nodes.

    Every node's outcome is visible in Prefect: as a table artifact of the stage (node, status, rows,
    seconds; one API call), or, with `node_tasks`, as a task run per node (prefect-dbt; about 1 s of
    bookkeeping per 4 nodes on this machine, see bench/daily_refresh.py)."""
    logger = get_run_logger()
    summary = build(
        settings,
        selector=selector,
        quiet=True,
        node_tasks=node_tasks,
        target=settings.dbt_target,
        skip_unchanged=True,
        upstream_rebuilt=upstream_rebuilt,
        raise_on_failure=False,
    )
    if summary.plan is not None:
        logger.info("%s", summary.plan.describe())
    for node in summary.warned:
        logger.warning("%s: guardrail warning %s", stage, node.describe().removeprefix("test "))
    if summary.nodes and not node_tasks:
        create_table_artifact(
            key=f"dbt-{selector.replace('_', '-')}",
            table=[
                {
                    "node": f"{n.resource_type} {n.name}",
                    "status": n.status,
                    "rows": n.failures or 0,
                    "seconds": round(n.execution_time, 3),
                }
                for n in summary.nodes
            ],
            description=f"dbt build of the {stage} stage: every node's status",
        )
    if not summary.success:
        raise DbtBuildError(summary)
    return summary


@task(name="dbt build: features and guardrails", task_run_name="dbt build: features and guardrails")
def features_task(settings: Settings, node_tasks: bool) -> DbtRunSummary:
    return dbt_build(settings, "features", selector=FEATURES_SELECTOR, node_tasks=node_tasks)


@task(name="dbt build: portfolio books", task_run_name="dbt build: portfolio books")
def portfolio_books_task(settings: Settings, node_tasks: bool, upstream: tuple[str, ...]) -> DbtRunSummary:
    return dbt_build(
        settings, "portfolio books", selector=PORTFOLIO_BOOKS_SELECTOR, node_tasks=node_tasks, upstream_rebuilt=upstream
    )


@task(name="dbt build: evaluation", task_run_name="dbt build: evaluation")
def evaluation_task(settings: Settings, node_tasks: bool, upstream: tuple[str, ...]) -> DbtRunSummary:
    return dbt_build(
        settings, "evaluation", selector=EVALUATION_SELECTOR, node_tasks=node_tasks, upstream_rebuilt=upstream
    )


@task(name="score signals", task_run_name="score signals")
def score_signals(settings: Settings) -> str:
    from ml.signals.score import score_latest

    report = score_latest(
        settings.warehouse_path,
        horizon=settings.signal_horizon,
        last_dates=settings.score_dates,
        marts=mart_reader(settings),
        only_changed=True,
    )
    if not report.rows:
        return f"no new or changed feature rows to score by {report.model_version}"
    write_back(settings, "score")
    return f"{report.rows} signals {report.first_date:%Y-%m-%d}..{report.last_date:%Y-%m-%d} by {report.model_version}"


SKIPPED = "skipped: "


@task(name="refresh regimes", task_run_name="refresh regimes", retries=2, retry_delay_seconds=10)
def refresh_regimes_task(settings: Settings) -> tuple[str, bool]:
    """Label the new days and write them to MongoDB (retried: a real server may blip). Without a market
    series to label (a small universe and no benchmark) it is skipped with the reason, not retried.
    Returns what it did and whether it wrote anything."""
    from ml.regimes.refresh import NoMarketSeriesError, refresh_regimes
    from ml.regimes.store import open_store

    store, client = open_store(settings.mongodb_uri, settings.regime_store_dir)
    try:
        report = refresh_regimes(
            settings.warehouse_path, store, marts=mart_reader(settings), **settings.regime_options()
        )
    except NoMarketSeriesError as exc:
        return f"{SKIPPED}{exc}", False
    finally:
        client.close()
    wrote = report.days_written > 0 or report.fitted
    if wrote:
        write_back(settings, "regimes")
    return f"{report.latest_date} {report.latest_regime}, {report.days_written} days written", wrote


@task(name="issue forecasts", task_run_name="issue forecasts")
def issue_forecasts_task(settings: Settings) -> tuple[str, bool]:
    from ml.forecasts.issue import issue_forecasts

    report = issue_forecasts(settings.warehouse_path, marts=mart_reader(settings))
    if report.forecasts:
        write_back(settings, "forecasts")
    redone = f"; re-issued {'; '.join(report.full)}" if report.full else ""
    return (
        f"{report.forecasts} forecasts for {report.new_issue_dates} new issue dates up to "
        f"{report.latest_issue_date:%Y-%m-%d}{redone}"
    ), report.forecasts > 0


@task(name="backtest", task_run_name="backtest")
def backtest_task(settings: Settings) -> tuple[str, bool]:
    """Replay the champion's out-of-fold book, unless the stored run already is the replay of the same
    inputs (a new session after the book's window changes none of them). Returns what it did and whether
    it wrote."""
    from ml.backtest.run import run_backtest

    report = run_backtest(
        settings.warehouse_path, horizon=settings.signal_horizon, marts=mart_reader(settings), unchanged=True
    )
    sharpe = f"Sharpe {report.value('strategy', 'sharpe'):.2f}"
    if report.reused:
        return (
            f"{SKIPPED}its inputs are those of run {report.run_id} (the out-of-fold book ends "
            f"{report.end_date:%Y-%m-%d}; {sharpe})",
            False,
        )
    write_back(settings, "backtest")
    return f"{report.run_id}: {sharpe}", True


@task(name="publish snapshot", task_run_name="publish snapshot")
def publish_task(settings: Settings) -> str:
    from flows.publish import publish_snapshot

    return publish_snapshot(
        settings.warehouse_path,
        settings.serving_dir,
        horizon=settings.signal_horizon,
        feature_sessions=settings.online_feature_sessions,
        marts=mart_reader(settings),
    ).name


@flow(name="daily_refresh", log_prints=True)
def daily_refresh(source: str = "synthetic", symbols: list[str] | None = None, node_tasks: bool = False) -> RunSummary:
    """Ingest, build, score, label regimes, forecast, evaluate, backtest and publish, in that order, each
    as the night's plan says (flows/night_plan.py: what runs, what is skipped, and why).

    The configuration is read once, here, in the process that runs the flow, and handed to every task
    (no task reads the environment). The whole run holds the warehouse's writer lock (other writers wait,
    see featurecast.writer) and, when it wrote anything, refreshes the analysts' copy before letting go."""
    settings = Settings.from_env()
    get_run_logger().info("settings: %s", settings)  # the secrets (API key, MongoDB URI) are not in its repr
    wrote: list[str] = []  # the steps that wrote something tonight
    with exclusive_writer(settings, "the daily_refresh flow", changed=lambda: bool(wrote)):
        return _daily_refresh(settings, source, symbols, node_tasks, wrote)


def _daily_refresh(
    settings: Settings, source: str, symbols: list[str] | None, node_tasks: bool, wrote: list[str]
) -> RunSummary:
    from flows.night_plan import Step, night_facts, plan_night

    logger = get_run_logger()
    times = StageTimes()
    facts = night_facts(settings, source)
    planned = plan_night(facts)
    logger.info("tonight's plan:\n%s", "\n".join(step.describe() for step in planned))
    done: dict[str, Step] = {step.name: step for step in planned}

    def record(name: str, action: str, reason: str) -> None:
        done[name] = Step(name, action, reason)  # type: ignore[arg-type]
        if action == "run":
            wrote.append(name)

    ingested = times.run("ingest", ingest, settings, source, symbols)
    if ingested.get("batch_id"):
        wrote.append("ingest")
    freshness = times.run("source freshness", source_freshness_task, settings)
    features = times.run("dbt build: features and guardrails", features_task, settings, node_tasks)
    builds = [features]
    rebuilt: tuple[str, ...] = ("features",) if features.plan is None or features.plan.runs else ()
    if features.plan is not None:
        record("dbt build: features and guardrails", "run" if features.plan.runs else "skip", features.plan.reason)

    trained, notes = None, []
    has_champion = facts.champion is not None
    if not has_champion:
        from flows.train_models import train_models
        from ml.signals.cv import InsufficientHistoryError

        try:
            trained = times.run("train models (no champion yet)", train_models, refit_regimes_too=False)
            has_champion = bool(trained["decision"]["promoted"])
        except InsufficientHistoryError as exc:
            notes.append(f"signals skipped: not enough history to train with walk-forward validation ({exc})")
            logger.warning(notes[-1])
        record("train models", "run", done["train models"].reason)

    scoring = has_champion and (done["score signals"].action == "run" or trained is not None)
    if scoring:
        scored = times.run("score signals", score_signals, settings)
        record("score signals", "skip" if scored.startswith("no new") else "run", scored)
    elif not has_champion:
        record("score signals", "skip", "no champion signal model")
    regimes, labelled = times.run("refresh regimes", refresh_regimes_task, settings)
    record("refresh regimes", "run" if labelled else "skip", regimes.removeprefix(SKIPPED))
    if regimes.startswith(SKIPPED):
        notes.append(f"regimes skipped: {regimes.removeprefix(SKIPPED)}")
        logger.warning(notes[-1])
    # The features stage builds the portfolio books' models too (dbt_project.plan.COVERS): the books stage
    # runs again only when the backtest rewrote ml.portfolio_books after it.
    books_upstream: tuple[str, ...] = ()
    if scoring:  # the backtest trades the champion's out-of-fold signals; its book becomes a portfolio
        replayed, booked = times.run("backtest", backtest_task, settings)
        record("backtest", "run" if booked else "skip", replayed.removeprefix(SKIPPED))
    elif not has_champion:
        record("backtest", "skip", "no champion signal model")
    if has_champion:
        books = times.run("dbt build: portfolio books", portfolio_books_task, settings, node_tasks, books_upstream)
        builds.append(books)
        if books.plan is not None:
            record("dbt build: portfolio books", "run" if books.plan.runs else "skip", books.plan.reason)
        if books.plan is None or books.plan.runs:
            rebuilt += ("portfolio books",)
    else:
        record("dbt build: portfolio books", "skip", "no champion signal model, so no backtest book")
    forecasts, issued = times.run("issue forecasts", issue_forecasts_task, settings)
    record("issue forecasts", "run" if issued else "skip", forecasts)
    evaluation = times.run("dbt build: evaluation", evaluation_task, settings, node_tasks, rebuilt)
    builds.append(evaluation)
    if evaluation.plan is not None:
        record("dbt build: evaluation", "run" if evaluation.plan.runs else "skip", evaluation.plan.reason)
    if has_champion:  # the snapshot serves the champion's signals
        current = settings.serving_dir / "CURRENT"
        if wrote or not current.exists():
            times.run("publish snapshot", publish_task, settings)
            record("publish snapshot", "run", "; ".join(wrote) + " changed" if wrote else "no snapshot yet")
        else:
            record("publish snapshot", "skip", "nothing it serves changed tonight")
    else:
        record("publish snapshot", "skip", "no champion signal model to serve")

    summary = collect_summary(settings, builds, ingested, times.seconds, trained, notes)
    summary.freshness = freshness
    summary.plan = [step.describe() for step in done.values()]
    summary.wrote = list(wrote)
    create_markdown_artifact(key="daily-refresh-summary", markdown=summary.markdown(), description="daily_refresh")
    return summary
