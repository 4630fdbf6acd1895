"""BacktestService: the newest backtest of the champion's signals, from the snapshot."""

from __future__ import annotations

import json
import logging
from typing import Any

from featurecast.api.services.common import (
    records,
)
from featurecast.api.snapshot import SnapshotStore

log = logging.getLogger(__name__)


class BacktestsUnavailableError(RuntimeError):
    """No backtest has been published yet."""


class BacktestService:
    """The newest backtest of the champion's signals (run by the daily flow), from the snapshot."""

    def __init__(self, store: SnapshotStore) -> None:
        self.store = store

    def latest(self) -> dict[str, Any]:
        snapshot = self.store.current()
        if snapshot is None or snapshot.backtest_run.empty:
            raise BacktestsUnavailableError(
                "no backtest has been published yet: the daily flow runs and publishes it (`featurecast run`, or "
                "`featurecast backtest` then `featurecast publish`)"
            )
        run = records(snapshot.backtest_run)[0]
        metrics = snapshot.backtest_metrics
        books = [
            {"book": book, "metrics": records(group.drop(columns="book"))}
            for book, group in metrics.groupby("book", sort=True)
        ]
        improvement = {
            m["metric"]: m for m in records(metrics[metrics["metric"].str.startswith("sharpe_improvement")])
        }
        return {
            "run_id": run["run_id"],
            "created_at": run["created_at"],
            "model_version": run["model_version"],
            "horizon_sessions": run["horizon"],
            "strategy": json.loads(run["strategy"]),
            "start_date": run["start_date"],
            "end_date": run["end_date"],
            "sessions": run["sessions"],
            "symbols": run["symbols"],
            "warnings": json.loads(run["warnings"]) if run.get("warnings") else [],
            "books": books,
            "sharpe_improvement_vs_buy_and_hold": improvement["sharpe_improvement_vs_buy_and_hold"],
            "sharpe_improvement_vs_momentum": improvement["sharpe_improvement_vs_momentum"],
        }

    def kpi(self) -> dict[str, Any] | None:
        try:
            latest = self.latest()
        except BacktestsUnavailableError:
            return None
        value = {(b["book"], m["metric"]): m["value"] for b in latest["books"] for m in b["metrics"]}
        improvement = latest["sharpe_improvement_vs_buy_and_hold"]
        return {
            "run_id": latest["run_id"],
            "sharpe": value.get(("strategy", "sharpe")),
            "buy_and_hold_sharpe": value.get(("buy_and_hold", "sharpe")),
            "momentum_sharpe": value.get(("momentum", "sharpe")),
            "sharpe_improvement_vs_buy_and_hold": improvement["value"],
            "ci_low": improvement["ci_low"],
            "ci_high": improvement["ci_high"],
            "max_drawdown": value.get(("strategy", "max_drawdown")),
            "annual_turnover": value.get(("strategy", "annual_turnover")),
        }
