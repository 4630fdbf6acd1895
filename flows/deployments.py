"""The scheduled deployments of the flows, served by one long-running process.

    daily-refresh     daily_refresh   17:30 New York time, Monday to Friday (after the 16:00 close)
    weekly-training   train_models    Saturday 06:00 New York time

Start them against a local Prefect server (docs/runbook.md):

    .venv/bin/prefect server start --host 127.0.0.1 &        # UI and API on http://127.0.0.1:4200
    PREFECT_API_URL=http://127.0.0.1:4200/api featurecast flow serve

`serve` registers both deployments with their schedules and runs each scheduled flow run as it comes due;
stop it with Ctrl-C (its schedules are paused on shutdown). The flows read their configuration from the
environment of this process (featurecast/config.py).
"""

from __future__ import annotations

from typing import cast

from prefect.deployments.runner import RunnerDeployment
from prefect.schedules import Cron, Schedule

from flows.daily_refresh import daily_refresh
from flows.train_models import train_models

TIMEZONE = "America/New_York"
DAILY_CRON = "30 17 * * 1-5"
WEEKLY_CRON = "0 6 * * 6"


def deployments(daily: Schedule | None = None, weekly: Schedule | None = None) -> list[RunnerDeployment]:
    """Both deployments; tests pass faster schedules, everything else uses the crons above."""
    daily_deployment = daily_refresh.to_deployment(
        name="daily-refresh",
        schedule=daily or Cron(DAILY_CRON, timezone=TIMEZONE),
        description="Ingest, build features and guardrails, score, regimes, backtest, portfolio books, "
        "forecasts, evaluation, publish.",
        tags=["featurecast", "daily"],
    )
    weekly_deployment = train_models.to_deployment(
        name="weekly-training",
        schedule=weekly or Cron(WEEKLY_CRON, timezone=TIMEZONE),
        description="Retrain the signal models (promotion by rule) and refit the regime model.",
        tags=["featurecast", "weekly"],
    )
    # to_deployment is sync-compatible: called outside an event loop it returns the deployment itself,
    # though its annotation also admits the coroutine it returns inside one.
    return [cast(RunnerDeployment, daily_deployment), cast(RunnerDeployment, weekly_deployment)]


def serve_deployments() -> None:
    """Serve both deployments until interrupted."""
    from prefect import serve

    serve(*deployments())
