"""`train_models`: the weekly Prefect flow that retrains, evaluates and (by rule) promotes models.

- Signals: LightGBM and CatBoost are trained with walk-forward CV (purge and embargo); the better of the
  two by calibrated out-of-fold AUC becomes the candidate, and it replaces the champion only if it is not
  worse than the champion on the same out-of-fold rows (`ml.signals.registry.promotion_decision`).
- Regimes: the Markov-switching model is refit on the whole market history and the labels are rewritten
  (filtered probabilities, so each day's label still uses data up to that day only).
- Forecasts: the vol-normal and conformal forecasters are online (they refit every issue date), so there
  is nothing to retrain; `daily_refresh` issues and evaluates them.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact

from featurecast.config import Settings
from featurecast.marts import mart_reader, write_back
from featurecast.writer import exclusive_writer


@task(name="train signal models")
def train_signals(settings: Settings, families: list[str]) -> list[dict[str, Any]]:
    from ml.signals.train import train_signal_models

    trained = train_signal_models(
        settings.warehouse_path,
        settings.models_dir,
        horizon=settings.signal_horizon,
        families=tuple(families),
        min_ic_names=settings.min_universe_symbols,
        marts=mart_reader(settings),
    )
    write_back(settings, "train")
    return [{"version": t.version, "family": t.family, "metrics": t.metrics} for t in trained]


@task(name="promotion decision")
def decide_promotion(settings: Settings, candidates: list[dict[str, Any]]) -> dict[str, Any]:
    from ml.signals.train import select_and_promote

    decision = select_and_promote(
        settings.warehouse_path,
        {c["version"]: c["metrics"]["model"]["auc"] for c in candidates},
        settings.signal_horizon,
    )
    get_run_logger().info("candidate %s: %s", decision.candidate, decision.reason)
    return {
        "candidate": decision.candidate,
        "champion_before": decision.champion,
        "promoted": decision.promote,
        "reason": decision.reason,
    }


@task(name="refit regimes", retries=2, retry_delay_seconds=10)
def refit_regimes(settings: Settings) -> str:
    from ml.regimes.refresh import refresh_regimes
    from ml.regimes.store import open_store

    store, client = open_store(settings.mongodb_uri, settings.regime_store_dir)
    try:
        report = refresh_regimes(
            settings.warehouse_path, store, refit=True, marts=mart_reader(settings), **settings.regime_options()
        )
    finally:
        client.close()
    write_back(settings, "regimes")
    return report.model_version


@flow(name="train_models", log_prints=True)
def train_models(refit_regimes_too: bool = True, families: list[str] | None = None) -> dict[str, Any]:
    """Retrain the signal models, promote by rule, and refit the regime model (holding the writer lock).
    The configuration is read once, here, and handed to every task."""
    settings = Settings.from_env()
    with exclusive_writer(settings, "the train_models flow"):
        candidates = train_signals(settings, families or ["lightgbm", "catboost"])
        decision = decide_promotion(settings, candidates)
        regime_model = refit_regimes(settings) if refit_regimes_too else None
    lines = ["| model | out-of-fold AUC | momentum baseline AUC | rank IC |", "| --- | --- | --- | --- |"]
    for c in candidates:
        m, b = c["metrics"]["model"], c["metrics"]["baseline"]
        lines.append(f"| {c['version']} | {m['auc']:.4f} | {b['auc']:.4f} | {m['rank_ic']:+.4f} |")
    lines += ["", f"Promotion: **{'promoted' if decision['promoted'] else 'kept the champion'}**: {decision['reason']}"]
    if regime_model:
        lines.append(f"\nRegime model refit: `{regime_model}`")
    create_markdown_artifact(key="train-models-summary", markdown="\n".join(lines), description="train_models")
    return {"candidates": candidates, "decision": decision, "regime_model": regime_model}
