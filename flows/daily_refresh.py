"""`daily_refresh`: the nightly Prefect flow, from new market data to a published serving snapshot.

    ingest -> dbt build (features + guardrails) -> score signals -> refresh regimes (MongoDB)
           -> backtest -> dbt build (portfolio books: the strategy's book joins fct_portfolio_daily)
           -> issue forecasts -> dbt build (evaluation models) -> publish snapshot

A structural guardrail failure stops the flow at the first dbt build, naming the failing rule; nothing
after it runs (no training, no scores, no snapshot), so the API keeps serving yesterday's snapshot.
Statistical guardrails only warn: the flow goes on and reports them. Every dbt node is its own Prefect
task run (prefect-dbt). With no champion signal model yet, the flow runs `train_models` first.

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
from prefect.artifacts import create_markdown_artifact

from dbt_project.runner import (
    EVALUATION_SELECTOR,
    FEATURES_SELECTOR,
    PORTFOLIO_BOOKS_SELECTOR,
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


@task(name="ingest", retries=2, retry_delay_seconds=30, retry_condition_fn=_retry_only_transient)
def ingest(source: str, symbols: list[str] | None) -> dict[str, object]:
    """Land new bars (one batch, all or nothing, idempotent). `none`: the data was landed beforehand."""
    from featurecast.marketdata.service import MarketDataService

    service = MarketDataService(Settings.from_env())
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


@task(name="source freshness")
def source_freshness_task() -> list[str]:
    """`dbt source freshness` on the raw sources: a source past its warn or error age is reported (logged
    as a warning and in the run summary), not fatal; the structural guardrails decide what fails."""
    from dbt_project.runner import source_freshness

    logger = get_run_logger()
    lines = []
    for result in source_freshness(Settings.from_env()):
        lines.append(result.describe())
        if result.status != "pass":
            logger.warning("source freshness: %s", result.describe())
    return lines


def dbt_build(stage: str, *, selector: str, node_tasks: bool) -> DbtRunSummary:
    """A dbt build of one stage (a selector in selectors.yml) whose nodes show up as task runs; raises
    DbtBuildError naming the failing nodes."""
    logger = get_run_logger()
    settings = Settings.from_env()
    summary = build(settings, selector=selector, quiet=True, node_tasks=node_tasks, target=settings.dbt_target)
    for node in summary.warned:
        logger.warning("%s: guardrail warning %s", stage, node.describe().removeprefix("test "))
    return summary


@task(name="score signals")
def score_signals() -> str:
    from ml.signals.score import score_latest

    settings = Settings.from_env()
    report = score_latest(
        settings.warehouse_path,
        horizon=settings.signal_horizon,
        last_dates=settings.score_dates,
        marts=mart_reader(settings),
    )
    write_back(settings, "score")
    return f"{report.rows} signals {report.first_date:%Y-%m-%d}..{report.last_date:%Y-%m-%d} by {report.model_version}"


SKIPPED = "skipped: "


@task(name="refresh regimes", retries=2, retry_delay_seconds=10)
def refresh_regimes_task() -> str:
    """Label the new days and write them to MongoDB (retried: a real server may blip). Without a market
    series to label (a small universe and no benchmark) it is skipped with the reason, not retried."""
    from ml.regimes.refresh import NoMarketSeriesError, refresh_regimes
    from ml.regimes.store import open_store

    settings = Settings.from_env()
    store, client = open_store(settings.mongodb_uri, settings.regime_store_dir)
    try:
        report = refresh_regimes(
            settings.warehouse_path, store, marts=mart_reader(settings), **settings.regime_options()
        )
    except NoMarketSeriesError as exc:
        return f"{SKIPPED}{exc}"
    finally:
        client.close()
    write_back(settings, "regimes")
    return f"{report.latest_date} {report.latest_regime}, {report.days_written} days written"


@task(name="issue forecasts")
def issue_forecasts_task() -> str:
    from ml.forecasts.issue import issue_forecasts

    settings = Settings.from_env()
    report = issue_forecasts(settings.warehouse_path, marts=mart_reader(settings))
    write_back(settings, "forecasts")
    redone = f"; re-issued {'; '.join(report.full)}" if report.full else ""
    return (
        f"{report.forecasts} forecasts for {report.new_issue_dates} new issue dates up to "
        f"{report.latest_issue_date:%Y-%m-%d}{redone}"
    )


@task(name="backtest")
def backtest_task() -> str:
    from ml.backtest.run import run_backtest

    settings = Settings.from_env()
    report = run_backtest(settings.warehouse_path, horizon=settings.signal_horizon, marts=mart_reader(settings))
    write_back(settings, "backtest")
    return f"{report.run_id}: Sharpe {report.value('strategy', 'sharpe'):.2f}"


@task(name="publish snapshot")
def publish_task() -> str:
    from flows.publish import publish_snapshot

    settings = Settings.from_env()
    return publish_snapshot(
        settings.warehouse_path,
        settings.serving_dir,
        horizon=settings.signal_horizon,
        feature_sessions=settings.online_feature_sessions,
        marts=mart_reader(settings),
    ).name


@flow(name="daily_refresh", log_prints=True)
def daily_refresh(source: str = "synthetic", symbols: list[str] | None = None, node_tasks: bool = True) -> RunSummary:
    """Ingest, build, score, label regimes, forecast, evaluate, backtest and publish, in that order.

    The whole run holds the warehouse's writer lock (other writers wait, see featurecast.writer) and, on
    success, refreshes the analysts' copy before letting go."""
    settings = Settings.from_env()
    with exclusive_writer(settings, "the daily_refresh flow"):
        return _daily_refresh(settings, source, symbols, node_tasks)


def _daily_refresh(settings: Settings, source: str, symbols: list[str] | None, node_tasks: bool) -> RunSummary:
    from ml.signals.registry import champion

    times = StageTimes()
    ingested = times.run("ingest", ingest, source, symbols)
    freshness = times.run("source freshness", source_freshness_task)
    builds = [
        times.run(
            "dbt build: features and guardrails",
            dbt_build,
            "features",
            selector=FEATURES_SELECTOR,
            node_tasks=node_tasks,
        )
    ]

    trained, notes = None, []
    has_champion = champion(settings.warehouse_path, settings.signal_horizon) is not None
    if not has_champion:
        from flows.train_models import train_models
        from ml.signals.cv import InsufficientHistoryError

        try:
            trained = times.run("train models (no champion yet)", train_models, refit_regimes_too=False)
            has_champion = bool(trained["decision"]["promoted"])
        except InsufficientHistoryError as exc:
            notes.append(f"signals skipped: not enough history to train with walk-forward validation ({exc})")
            get_run_logger().warning(notes[-1])

    if has_champion:
        times.run("score signals", score_signals)
    regimes = times.run("refresh regimes", refresh_regimes_task)
    if regimes.startswith(SKIPPED):
        notes.append(f"regimes skipped: {regimes.removeprefix(SKIPPED)}")
        get_run_logger().warning(notes[-1])
    if has_champion:  # the backtest trades the champion's signals; its book becomes a portfolio
        times.run("backtest", backtest_task)
        builds.append(
            times.run(
                "dbt build: portfolio books",
                dbt_build,
                "portfolio books",
                selector=PORTFOLIO_BOOKS_SELECTOR,
                node_tasks=node_tasks,
            )
        )
    times.run("issue forecasts", issue_forecasts_task)
    builds.append(
        times.run("dbt build: evaluation", dbt_build, "evaluation", selector=EVALUATION_SELECTOR, node_tasks=node_tasks)
    )
    if has_champion:  # the snapshot serves the champion's signals
        times.run("publish snapshot", publish_task)

    summary = collect_summary(settings, builds, ingested, times.seconds, trained, notes)
    summary.freshness = freshness
    create_markdown_artifact(key="daily-refresh-summary", markdown=summary.markdown(), description="daily_refresh")
    return summary
