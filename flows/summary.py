"""The run summary of `daily_refresh`: what was built and what it says, as text (CLI) and Markdown (artifact)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import duckdb

from dbt_project.runner import DbtRunSummary
from dbt_project.warehouse_summary import summarize
from featurecast.config import Settings
from featurecast.marts import mart_reader
from ml.forecasts.as_of import behind_data
from ml.forecasts.champions import Served, served, served_forecasters


def _ic(value: float) -> str:
    """A rank IC, or why there is none (no date had enough names to rank)."""
    return "n/a (too few names a day)" if value != value else f"{value:+.3f}"


@dataclass
class RunSummary:
    ingested: dict[str, object]
    warehouse: str  # rows per mart, the data window, guardrail findings, stale symbols
    dbt: dict[str, int]  # node status -> count, over both builds
    warnings: list[str]
    signals: dict[str, Any] | None
    regime: dict[str, Any] | None
    forecasts: list[dict[str, Any]]
    backtest: dict[str, Any] | None
    stage_seconds: dict[str, float]
    trained: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)  # steps skipped and why
    freshness: list[str] = field(default_factory=list)  # `dbt source freshness`, one line per raw source
    node_status: dict[str, str] = field(default_factory=dict)  # dbt unique_id -> its last status in the run
    plan: list[str] = field(default_factory=list)  # every step of the night as decided, with why (night_plan)
    wrote: list[str] = field(default_factory=list)  # the steps that wrote the warehouse tonight

    def text(self) -> str:
        landed = (
            f"ingested batch {self.ingested.get('batch_id')}: {self.ingested.get('inserted')} rows inserted, "
            f"{self.ingested.get('updated')} updated, {self.ingested.get('unchanged')} unchanged"
            if self.ingested.get("batch_id")
            else "ingested nothing: --source none (the bars were landed beforehand, e.g. by `featurecast ingest csv`)"
        )
        out = [
            landed,
            self.warehouse.strip(),
            (
                "dbt: "
                + ", ".join(f"{n} {status}" for status, n in sorted(self.dbt.items()))
                + (f"; warnings: {', '.join(self.warnings)}" if self.warnings else "; no guardrail warnings")
            )
            if self.dbt
            else "dbt: nothing built tonight (every stage's sources and the project unchanged, see below)",
        ]
        if self.freshness:
            out.append("source freshness: " + "; ".join(self.freshness))
        out += self.notes
        if self.trained:
            decision = self.trained["decision"]
            out.append(f"training: {decision['reason']} -> {'promoted' if decision['promoted'] else 'not promoted'}")
        if self.signals:
            s = self.signals
            out.append(
                f"signals: champion {s['model_version']}, out-of-fold AUC {s['auc']:.3f} vs momentum baseline "
                f"{s['baseline_auc']:.3f} (rank IC {_ic(s['rank_ic'])} vs {_ic(s['baseline_rank_ic'])})"
            )
        if self.regime:
            probs = ", ".join(f"{k} {v:.2f}" for k, v in self.regime["probabilities"].items())
            out.append(f"regime: {self.regime['date']} is {self.regime['regime']} ({probs})")
        out += _forecast_lines(self.forecasts)
        if self.backtest:
            b = self.backtest
            out.append(
                f"backtest {b['start_date']}..{b['end_date']}: Sharpe {b['strategy']:.2f} vs buy-and-hold "
                f"{b['buy_and_hold']:.2f} and momentum {b['momentum']:.2f}; improvement over buy-and-hold "
                f"{b['improvement']:+.2f} (90% interval {b['ci_low']:+.2f} to {b['ci_high']:+.2f}), "
                f"after {b['costs_bps']:.0f} bps costs+slippage per trade"
            )
        if self.plan:
            out.append("tonight:")
            out += [f"  {step}" for step in self.plan]
        out.append("stages: " + ", ".join(f"{k} {v:.1f} s" for k, v in self.stage_seconds.items()))
        return "\n".join(out)

    def markdown(self) -> str:
        return "# daily_refresh\n\n```\n" + self.text() + "\n```\n"


def _forecast_lines(forecasts: list[dict[str, Any]]) -> list[str]:
    """One line per served forecast; a forecast older than the data says so and why, and a target that has
    passed is named as history, never as a projection."""
    out = []
    for f in forecasts:
        bands = f"equity 5/50/95% {f['equity_q05']:.3f} / {f['equity_q50']:.3f} / {f['equity_q95']:.3f}"
        if f.get("behind_data"):
            passed = f["target_date"] <= str(f["data_last_date"])
            outcome = "has passed: scored in the forecast evaluation, not a projection" if passed else bands
            out.append(
                f"forecast {f['portfolio']} +{f['horizon']} sessions by {f['model']} ({f['why']}): "
                f"{f['behind_data']}; target {f['target_date']} {outcome}"
            )
            continue
        out.append(
            f"forecast {f['portfolio']} +{f['horizon']} sessions ({f['target_date']}) by {f['model']} "
            f"({f['why']}): {bands} (now {f['equity_at_issue']:.3f})"
        )
    return out


def _served_forecasts(con: duckdb.DuckDBPyConnection, choices: dict[tuple[str, int], Served]) -> list[dict[str, Any]]:
    """Each (portfolio, horizon)'s newest forecast by the forecaster the API serves there, named."""
    newest = con.execute(
        "select portfolio, horizon, model, issue_date, target_date::varchar as target_date, equity_at_issue, "
        "equity_q05, equity_q50, equity_q95 from ml.forecasts "
        "qualify issue_date = max(issue_date) over (partition by portfolio) order by portfolio, horizon"
    ).df()
    # the data's newest date: the equal-weight portfolio is issued on it every night
    data_last_date = newest["issue_date"].max().date() if len(newest) else None
    rows = []
    for record in newest.to_dict(orient="records"):
        chosen = served(choices, record["portfolio"], int(record["horizon"]))
        if record["model"] == chosen.model:
            issued = record.pop("issue_date").date()
            behind = behind_data(record["portfolio"], issued, data_last_date) if data_last_date else None
            rows.append(record | {"why": chosen.why, "behind_data": behind, "data_last_date": data_last_date})
    return rows


def collect_summary(
    settings: Settings,
    builds: list[DbtRunSummary],
    ingested: dict[str, object],
    stage_seconds: dict[str, float],
    trained: dict[str, Any] | None = None,
    notes: list[str] | None = None,
) -> RunSummary:
    counts: dict[str, int] = {}
    for build in builds:
        for status, n in build.counts().items():
            counts[status] = counts.get(status, 0) + n
    warnings = [f"{n.name} ({n.failures})" for b in builds for n in b.warned]
    warehouse = summarize(mart_reader(settings))
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        tables = {
            t for (t,) in con.execute("select table_name from duckdb_tables() where schema_name = 'ml'").fetchall()
        }
        from ml.signals.registry import champion

        signals = None
        found = champion(settings.warehouse_path, settings.signal_horizon)
        if found:
            metrics = found.metrics
            signals = {
                "model_version": found.version,
                "auc": metrics["model"]["auc"],
                "baseline_auc": metrics["baseline"]["auc"],
                "rank_ic": metrics["model"]["rank_ic"],
                "baseline_rank_ic": metrics["baseline"]["rank_ic"],
            }
        regime_row = (
            "regime_history" in tables
            and con.execute(
                "select date::varchar, regime, probabilities from ml.regime_history where scope = 'market' "
                "order by date desc limit 1"
            ).fetchone()
        )
        regime = (
            {"date": regime_row[0], "regime": regime_row[1], "probabilities": json.loads(regime_row[2])}
            if regime_row
            else None
        )
        forecasts = _served_forecasts(con, served_forecasters(mart_reader(settings))) if "forecasts" in tables else []
        backtest = None
        run = (
            "backtest_runs" in tables
            and con.execute(
                "select run_id, start_date::varchar, end_date::varchar, strategy from ml.backtest_runs "
                "order by created_at desc limit 1"
            ).fetchone()
        )
        if run:
            value = dict(
                con.execute(
                    "select book || ':' || metric, value from ml.backtest_metrics where run_id = ?", [run[0]]
                ).fetchall()
            )
            interval = con.execute(
                "select ci_low, ci_high from ml.backtest_metrics where run_id = ? "
                "and metric = 'sharpe_improvement_vs_buy_and_hold'",
                [run[0]],
            ).fetchone() or (None, None)
            strategy = json.loads(run[3])
            backtest = {
                "run_id": run[0],
                "start_date": run[1],
                "end_date": run[2],
                "strategy": value["strategy:sharpe"],
                "buy_and_hold": value["buy_and_hold:sharpe"],
                "momentum": value["momentum:sharpe"],
                "improvement": value["strategy:sharpe_improvement_vs_buy_and_hold"],
                "ci_low": interval[0],
                "ci_high": interval[1],
                "costs_bps": strategy["cost_bps"] + strategy["slippage_bps"],
            }
    finally:
        con.close()
    return RunSummary(
        ingested,
        warehouse,
        counts,
        warnings,
        signals,
        regime,
        forecasts,
        backtest,
        stage_seconds,
        trained,
        notes or [],
        node_status={node.unique_id: node.status for build in builds for node in build.nodes},
    )
