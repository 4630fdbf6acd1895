"""Training the direction classifiers: walk-forward validation, calibration, artifacts, registry.

For each model family:
1. walk-forward folds with purge and embargo (ml/signals/cv.py); in each fold the model and the
   momentum baseline are fitted on the training rows and predict the test block;
2. calibration is walk-forward too: fold k's probabilities are calibrated by a Platt map fitted on
   folds 1..k-1 only, so the calibrated metrics (folds 2..n) are out of sample as well;
3. metrics per fold and overall (model raw, model calibrated, baseline; overall on the same rows for
   all three) go to `ml.cv_metrics`, the paired model-minus-baseline differences with bootstrap
   intervals to `ml.cv_comparisons`, the reliability table to `ml.reliability`;
4. the final model is fitted on every complete row, the final calibrator on all out-of-fold
   predictions, and both are stored under the models directory and in `ml.model_registry`.
The version is a hash of family, horizon, parameters, feature spec and data snapshot (row count, date
range and a fingerprint of the cleaned bars, not their load times): retraining on the same data gives the
same version, on any machine, and replaces it instead of adding a duplicate.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from featurecast.config import DEFAULT_MIN_UNIVERSE_SYMBOLS
from featurecast.marts import DuckDBMarts, MartReader
from featurecast.progress import Progress
from ml.signals.cv import WalkForward
from ml.signals.dataset import data_fingerprint, feature_columns, feature_spec_hash, training_frame
from ml.signals.metrics import (
    calibration_with_resolution,
    daily_ic,
    paired_comparison,
    reliability_table,
    summarize,
)
from ml.signals.model_card import render_model_card
from ml.signals.models import FAMILIES, MomentumBaseline, PlattCalibrator
from ml.signals.registry import PromotionDecision, ensure_schema, promote, promotion_decision, record_version

log = logging.getLogger(__name__)


@dataclass
class CrossValidation:
    """Out-of-fold predictions and per-fold facts for one model family."""

    predictions: pd.DataFrame  # date, symbol, label, forward_return, fold, p_raw, p_calibrated, p_baseline
    folds: list[dict[str, object]] = field(default_factory=list)


def cross_validate(
    frame: pd.DataFrame, features: list[str], family: str, cv: WalkForward, params: dict[str, object] | None = None
) -> CrossValidation:
    """Walk-forward out-of-fold predictions of `family` and of the momentum baseline."""
    pieces, facts = [], []
    folds = cv.split(frame)
    progress = Progress(f"training {family}", total=sum(len(f.train_index) for f in folds))
    for fold in folds:
        started = time.perf_counter()
        train, test = frame.iloc[fold.train_index], frame.iloc[fold.test_index]
        model = FAMILIES[family](features, params).fit(train, train["label"].to_numpy())
        baseline = MomentumBaseline().fit(train, train["label"].to_numpy())
        pieces.append(
            pd.DataFrame(
                {
                    "date": test["date"].to_numpy(),
                    "symbol": test["symbol"].to_numpy(),
                    "label": test["label"].to_numpy(),
                    "forward_return": test["forward_return"].to_numpy(),
                    "fold": fold.number,
                    "p_raw": model.probability(test),
                    "p_baseline": baseline.probability(test),
                }
            )
        )
        facts.append(
            {
                "fold": fold.number,
                "test_start": fold.test_start,
                "test_end": fold.test_end,
                "train_end": fold.train_end,
                "train_rows": len(fold.train_index),
                "seconds": round(time.perf_counter() - started, 2),  # fit and predict, model and baseline
            }
        )
        progress.advance(len(fold.train_index), step=f"fold {fold.number} of {len(folds)} trained")
    predictions = pd.concat(pieces, ignore_index=True)
    predictions["p_calibrated"] = np.nan
    for number in sorted(predictions["fold"].unique())[1:]:
        earlier = predictions["fold"] < number
        calibrator = PlattCalibrator().fit(
            predictions.loc[earlier, "p_raw"].to_numpy(), predictions.loc[earlier, "label"].to_numpy()
        )
        current = predictions["fold"] == number
        predictions.loc[current, "p_calibrated"] = calibrator(predictions.loc[current, "p_raw"].to_numpy())
    return CrossValidation(predictions, facts)


def comparable_rows(predictions: pd.DataFrame) -> pd.DataFrame:
    """The out-of-fold rows every scorer predicted: those with a calibrated probability (folds 2..n)."""
    return predictions.dropna(subset=["p_calibrated"])


def comparison_rows(
    cv: CrossValidation, version: str, min_ic_names: int = DEFAULT_MIN_UNIVERSE_SYMBOLS
) -> pd.DataFrame:
    """Calibrated model minus momentum baseline on the comparable rows, with paired 90% intervals."""
    rows = comparable_rows(cv.predictions)
    table = paired_comparison(
        rows["label"].to_numpy(),
        rows["p_calibrated"].to_numpy(),
        rows["p_baseline"].to_numpy(),
        rows["date"].to_numpy(),
        rows["forward_return"].to_numpy(),
        min_names=min_ic_names,
    )
    table.insert(0, "model_version", version)
    return table


def ic_daily_rows(
    cv: CrossValidation, version: str, family: str, min_ic_names: int = DEFAULT_MIN_UNIVERSE_SYMBOLS
) -> pd.DataFrame:
    """The daily IC and Rank IC series of the calibrated model and the baseline on the comparable rows (the
    rows the overall figures are on), dates with at least `min_ic_names` names only."""
    rows = comparable_rows(cv.predictions)
    frames = []
    for scorer, column in ((family, "p_calibrated"), ("momentum_baseline", "p_baseline")):
        days = daily_ic(
            rows["date"].to_numpy(), rows[column].to_numpy(), rows["forward_return"].to_numpy(), min_ic_names
        )
        frames.append(days.assign(model_version=version, scorer=scorer))
    return pd.concat(frames, ignore_index=True)[["model_version", "scorer", "date", "names", "ic", "rank_ic"]]


def metric_rows(
    cv: CrossValidation, version: str, family: str, min_ic_names: int = DEFAULT_MIN_UNIVERSE_SYMBOLS
) -> pd.DataFrame:
    """Per-fold and overall metrics for the model (raw and calibrated) and the baseline, like for like.

    A fold's figures are on that fold's rows for every scorer that predicted it (fold 1 has no calibrated
    probabilities: nothing earlier to calibrate on). The overall figures of every scorer are on the same
    rows: those with a calibrated probability (folds 2..n), so model and baseline are never compared
    across different rows."""
    rows = []
    facts = {f["fold"]: f for f in cv.folds}
    comparable = comparable_rows(cv.predictions)
    scorers = [(family, "p_raw", False), (family, "p_calibrated", True), ("momentum_baseline", "p_baseline", False)]
    for scorer, column, calibrated in scorers:
        usable = cv.predictions.dropna(subset=[column])
        groups = [(str(k), g, facts[k]) for k, g in usable.groupby("fold")]
        groups.append(
            (
                "overall",
                comparable,
                {"test_start": comparable["date"].min(), "test_end": comparable["date"].max(), "train_rows": None},
            )
        )
        for fold, group, fact in groups:
            metrics = summarize(
                group["label"].to_numpy(),
                group[column].to_numpy(),
                group["date"].to_numpy(),
                group["forward_return"].to_numpy(),
                min_ic_names,
            )
            rows.append(
                {
                    "model_version": version,
                    "scorer": scorer,
                    "fold": fold,
                    "calibrated": calibrated,
                    "test_start": fact["test_start"],
                    "test_end": fact["test_end"],
                    "train_rows": fact["train_rows"],
                    **metrics,
                }
            )
    return pd.DataFrame(rows)


@dataclass(frozen=True)
class TrainedModel:
    version: str
    family: str
    horizon: int
    path: Path
    metrics: dict[str, dict[str, float]]  # 'model' (calibrated, out of sample), 'model_raw', 'baseline'


def _version(family: str, horizon: int, params: dict[str, object], spec_hash: str, snapshot: dict) -> str:
    digest = hashlib.sha256(
        json.dumps([family, horizon, params, spec_hash, snapshot], sort_keys=True, default=str).encode()
    ).hexdigest()
    return f"{family}-h{horizon}-{digest[:12]}"


def _library_versions() -> dict[str, str]:
    import catboost
    import lightgbm
    import sklearn

    return {
        "python": platform.python_version(),
        "lightgbm": lightgbm.__version__,
        "catboost": catboost.__version__,
        "scikit-learn": sklearn.__version__,
        "duckdb": duckdb.__version__,
        "pandas": pd.__version__,
    }


def train_family(
    frame: pd.DataFrame,
    features: list[str],
    family: str,
    horizon: int,
    cv: WalkForward,
    warehouse: Path,
    models_dir: Path,
    spec_hash: str,
    params: dict[str, object] | None = None,
    min_ic_names: int = DEFAULT_MIN_UNIVERSE_SYMBOLS,
    marts: MartReader | None = None,
) -> TrainedModel:
    params = dict(params or FAMILIES[family].default_params())
    snapshot = {
        "rows": len(frame),
        "first_date": frame["date"].min(),
        "last_date": frame["date"].max(),
        "bars": data_fingerprint(marts or warehouse, frame["label_end_date"].max()),
        "cv": vars(cv),
    }
    version = _version(family, horizon, params, spec_hash, snapshot)
    log.info("cross-validating %s", version)
    cv_result = cross_validate(frame, features, family, cv, params)
    metrics = metric_rows(cv_result, version, family, min_ic_names)
    overall = metrics[metrics["fold"] == "overall"].set_index(["scorer", "calibrated"])
    metric_names = ["auc", "accuracy", "log_loss", "brier", "ece", "ic", "icir", "rank_ic", "rank_icir", "n"]
    calibrated = comparable_rows(cv_result.predictions)
    comparison = comparison_rows(cv_result, version, min_ic_names)
    ic_days = ic_daily_rows(cv_result, version, family, min_ic_names)
    summary = {
        "model": {
            **overall.loc[(family, True), metric_names].to_dict(),
            **calibration_with_resolution(calibrated["label"].to_numpy(), calibrated["p_calibrated"].to_numpy()),
        },
        "model_raw": overall.loc[(family, False), metric_names].to_dict(),
        "baseline": overall.loc[("momentum_baseline", False), metric_names].to_dict(),
        "comparison": {
            row.metric: {"difference": row.difference, "ci_low": row.ci_low, "ci_high": row.ci_high}
            for row in comparison.itertuples()
        },
    }
    reliability = reliability_table(calibrated["label"].to_numpy(), calibrated["p_calibrated"].to_numpy())
    reliability.insert(0, "model_version", version)

    log.info("fitting the final %s model on %d rows", family, len(frame))
    started = time.perf_counter()
    model = FAMILIES[family](features, params).fit(frame, frame["label"].to_numpy())
    final_fit_seconds = round(time.perf_counter() - started, 2)
    calibrator = PlattCalibrator().fit(
        cv_result.predictions["p_raw"].to_numpy(), cv_result.predictions["label"].to_numpy()
    )
    directory = models_dir / version
    staging = models_dir / f".{version}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    model.save(staging)
    (staging / "calibrator.json").write_text(calibrator.to_json())
    importance = pd.Series(np.abs(model.contributions(frame.tail(5000))[0]).mean(axis=0), index=features)
    metadata = {
        "model_version": version,
        "family": family,
        "horizon_sessions": horizon,
        "features": features,
        "feature_spec_hash": spec_hash,
        "training_window": {
            "first_date": str(frame["date"].min().date()),
            "last_date": str(frame["date"].max().date()),
            "rows": len(frame),
        },
        "data_snapshot": {k: str(v) for k, v in snapshot.items() if k != "cv"},
        "cv": vars(cv),
        "params": params,
        "libraries": _library_versions(),
        "metrics": summary,
        "folds": [{k: str(v) for k, v in f.items()} for f in cv_result.folds],
        "final_fit_seconds": final_fit_seconds,
        "top_features": importance.sort_values(ascending=False).head(15).round(6).to_dict(),
    }
    (staging / "metadata.json").write_text(json.dumps(metadata, indent=2, default=str))
    (staging / "model_card.md").write_text(
        render_model_card(json.loads(json.dumps(metadata, default=str)), metrics, reliability)
    )
    shutil.rmtree(directory, ignore_errors=True)
    staging.rename(directory)

    con = duckdb.connect(str(warehouse))
    try:
        ensure_schema(con)
        con.execute("begin transaction")
        for table in (
            "ml.cv_metrics",
            "ml.cv_comparisons",
            "ml.reliability",
            "ml.oof_predictions",
            "ml.signal_ic_daily",
        ):
            con.execute(f"delete from {table} where model_version = ?", [version])
        oof = cv_result.predictions.assign(model_version=version)
        con.register("oof_rows", oof)
        con.execute("insert into ml.oof_predictions by name select * from oof_rows")
        con.register("metric_rows", metrics)
        con.execute("insert into ml.cv_metrics by name select * from metric_rows")
        con.register("comparison_rows", comparison)
        con.execute("insert into ml.cv_comparisons by name select * from comparison_rows")
        con.register("ic_rows", ic_days)
        con.execute("insert into ml.signal_ic_daily by name select * from ic_rows")
        con.register("reliability_rows", reliability)
        con.execute("insert into ml.reliability by name select * from reliability_rows")
        record_version(
            con,
            version=version,
            family=family,
            horizon=horizon,
            train_start=frame["date"].min(),
            train_end=frame["date"].max(),
            train_rows=len(frame),
            features=features,
            feature_spec_hash=spec_hash,
            params=params,
            metrics=summary,
            artifact_path=directory,
        )
        con.execute("commit")
    finally:
        con.close()
    return TrainedModel(version, family, horizon, directory, summary)


def train_signal_models(
    warehouse: Path,
    models_dir: Path,
    *,
    horizon: int = 5,
    families: tuple[str, ...] = ("lightgbm", "catboost"),
    cv: WalkForward | None = None,
    promote_best: bool = False,
    min_ic_names: int = DEFAULT_MIN_UNIVERSE_SYMBOLS,
    marts: MartReader | None = None,
) -> list[TrainedModel]:
    """Train every family on marts.fct_training_set; optionally promote the best (calibrated AUC).

    Promotion goes through the rule in `promotion_decision`: the best candidate replaces the champion
    only if it is not worse on the same out-of-fold rows. `select_and_promote` returns the decision.
    The marts are read through `marts` (default: the DuckDB warehouse); what training writes (registry,
    out-of-fold predictions) goes to the warehouse.
    """
    cv = cv or WalkForward(embargo_dates=horizon)
    reader = marts or DuckDBMarts(warehouse)
    features = feature_columns(reader)
    frame = training_frame(reader, horizon)
    spec_hash = feature_spec_hash(reader, features)
    trained = [
        train_family(
            frame, features, f, horizon, cv, warehouse, models_dir, spec_hash, min_ic_names=min_ic_names, marts=reader
        )
        for f in families
    ]
    if promote_best:
        select_and_promote(warehouse, {t.version: t.metrics["model"]["auc"] for t in trained}, horizon)
    return trained


def select_and_promote(warehouse: Path, candidates: dict[str, float], horizon: int) -> PromotionDecision:
    """Take the candidate with the best out-of-sample calibrated AUC (version -> AUC); promote it if the
    rule allows."""
    best = max(candidates, key=candidates.__getitem__)
    decision = promotion_decision(warehouse, best, horizon)
    log.info("promotion of %s: %s (%s)", best, "yes" if decision.promote else "no", decision.reason)
    if decision.promote:
        promote(warehouse, best)
    return decision
