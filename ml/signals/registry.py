"""Model artifacts on disk and the model registry in DuckDB (`ml.model_registry`).

`ml.oof_predictions` keeps every version's walk-forward out-of-fold probabilities: the promotion rule
compares a candidate with the champion on them, and the backtest trades them.

One folder per model version under the models directory: the model file, `calibrator.json` and
`metadata.json` (features and their spec hash, training window, parameters, library versions, metrics,
data snapshot). The registry table names at most one champion per horizon; promotion is explicit.

This module is the only code that reads or writes `ml.model_registry`: training records a version with
`record_version`, everything else asks `champion` (the serving snapshot, the run summary).
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from featurecast.duckdb_rows import one_row, table_exists
from featurecast.errors import NotReadyError
from ml.signals.models import FAMILIES, PlattCalibrator, SignalModel

DDL = """
create schema if not exists ml;
create table if not exists ml.model_registry (
    model_version varchar primary key,
    family varchar not null,
    horizon integer not null,
    created_at timestamp not null,
    train_start date not null,
    train_end date not null,
    train_rows bigint not null,
    features varchar[] not null,
    feature_spec_hash varchar not null,
    params json not null,
    metrics json not null,
    artifact_path varchar not null,
    is_champion boolean not null default false,
    promoted_at timestamp
);
create table if not exists ml.cv_metrics (
    model_version varchar not null,
    scorer varchar not null,          -- the model, or 'momentum_baseline'
    fold varchar not null,            -- '1'..'n', or 'overall'
    calibrated boolean not null,
    test_start date,
    test_end date,
    train_rows bigint,
    n bigint not null,
    auc double, accuracy double, log_loss double, brier double, ece double,
    ic double, rank_ic double, icir double, rank_icir double
);
alter table ml.cv_metrics add column if not exists rank_icir double;
-- Qlib's signal report, day by day: the cross-sectional IC and Rank IC of the calibrated model and of the
-- momentum baseline on the comparable out-of-fold rows, on dates with enough names (chart it with SQL).
create table if not exists ml.signal_ic_daily (
    model_version varchar not null,
    scorer varchar not null,          -- the model family, or 'momentum_baseline'
    date date not null,
    names integer not null,           -- names that date (benchmarks are never names)
    ic double not null,               -- Pearson correlation of the score with the forward return
    rank_ic double not null           -- Spearman correlation
);
create table if not exists ml.cv_comparisons (
    model_version varchar not null,
    metric varchar not null,          -- auc, log_loss, brier, ic, icir, rank_ic, rank_icir
    model double, baseline double,    -- the calibrated model and the momentum baseline, on the same rows
    difference double,               -- model minus baseline
    ci_low double, ci_high double,    -- 90% paired bootstrap interval over dates
    n_rows bigint, n_dates bigint
);
create table if not exists ml.reliability (
    model_version varchar not null,
    bin integer not null,
    bin_low double, bin_high double, mean_predicted double, observed double, count bigint
);
create table if not exists ml.oof_predictions (
    model_version varchar not null,
    fold integer not null,
    date date not null,
    symbol varchar not null,
    label integer not null,
    forward_return double not null,
    p_raw double not null,
    p_calibrated double,              -- null in fold 1 (no earlier folds to calibrate on)
    p_baseline double not null
);
create table if not exists ml.signals (
    symbol varchar not null,
    date date not null,
    model_version varchar not null,
    horizon integer not null,
    probability double not null,
    raw_probability double not null,
    raw_score double not null,
    base_value double not null,
    feature_values double[] not null,
    contributions double[] not null,
    scored_at timestamp not null
);
"""


def ensure_schema(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(DDL)


@dataclass(frozen=True)
class RegisteredModel:
    version: str
    family: str
    horizon: int
    features: list[str]
    params: dict[str, object]
    path: Path
    metrics: dict[str, Any]
    train_start: object = None
    train_end: object = None


def record_version(
    con: duckdb.DuckDBPyConnection,
    *,
    version: str,
    family: str,
    horizon: int,
    train_start: object,
    train_end: object,
    train_rows: int,
    features: list[str],
    feature_spec_hash: str,
    params: dict[str, object],
    metrics: dict[str, Any],
    artifact_path: Path,
) -> None:
    """Write (or rewrite) one version's registry row inside the caller's transaction; a version that is
    the champion stays the champion."""
    ensure_schema(con)
    was_champion = one_row(
        con, "select coalesce(any_value(is_champion), false) from ml.model_registry where model_version = ?", [version]
    )[0]
    con.execute("delete from ml.model_registry where model_version = ?", [version])
    con.execute(
        "insert into ml.model_registry (model_version, family, horizon, created_at, train_start, train_end, "
        "train_rows, features, feature_spec_hash, params, metrics, artifact_path, is_champion) "
        "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            version,
            family,
            horizon,
            datetime.now(UTC).replace(tzinfo=None),
            train_start,
            train_end,
            train_rows,
            features,
            feature_spec_hash,
            json.dumps(params),
            json.dumps(metrics),
            str(artifact_path),
            bool(was_champion),
        ],
    )


def champion(warehouse: Path, horizon: int) -> RegisteredModel | None:
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        tables = {
            t for (t,) in con.execute("select table_name from duckdb_tables() where schema_name = 'ml'").fetchall()
        }
        if "model_registry" not in tables:
            return None
        row = con.execute(
            "select model_version, family, horizon, features, params, artifact_path, metrics, train_start, train_end "
            "from ml.model_registry where horizon = ? and is_champion",
            [horizon],
        ).fetchone()
    finally:
        con.close()
    if row is None:
        return None
    path = artifact_dir(warehouse, Path(row[5]))
    return RegisteredModel(
        row[0], row[1], row[2], list(row[3]), json.loads(row[4]), path, json.loads(row[6]), row[7], row[8]
    )


def artifact_dir(warehouse: Path, recorded: Path) -> Path:
    """Where a version's artifacts are: the directory of the same name under the `models` folder beside
    the warehouse (the data dir's own, also when the data dir was copied, moved or restored elsewhere: the
    registry records absolute paths), else the recorded directory (a warehouse kept outside its data dir)."""
    beside = Path(warehouse).parent / "models" / recorded.name
    return beside if beside.is_dir() else recorded


class UnknownModelVersionError(ValueError):
    """A model version that is not in ml.model_registry; the message lists the nearest known ones."""

    def __init__(self, version: str, known: list[str]) -> None:
        near = difflib.get_close_matches(version, known, n=3, cutoff=0.3) or known[-3:]
        hint = f"; known versions include {', '.join(near)}" if near else "; no model has been trained yet"
        super().__init__(f"no model version {version[:80]!r} in ml.model_registry{hint}")


def promote(warehouse: Path, version: str) -> None:
    """Make `version` the champion of its horizon (the previous champion steps down)."""
    con = duckdb.connect(str(warehouse))
    try:
        registered = table_exists(con, "ml", "model_registry")
        if not registered:  # nothing trained yet: refuse without writing anything
            raise UnknownModelVersionError(version, [])
        found = con.execute("select horizon from ml.model_registry where model_version = ?", [version]).fetchone()
        if found is None:
            known = [row[0] for row in con.execute("select model_version from ml.model_registry order by 1").fetchall()]
            raise UnknownModelVersionError(version, known)
        con.execute("begin transaction")
        con.execute("update ml.model_registry set is_champion = false where horizon = ? and is_champion", [found[0]])
        con.execute(
            "update ml.model_registry set is_champion = true, promoted_at = ? where model_version = ?",
            [datetime.now(UTC).replace(tzinfo=None), version],
        )
        con.execute("commit")
    finally:
        con.close()


def load_model(entry: RegisteredModel) -> tuple[SignalModel, PlattCalibrator]:
    if not (entry.path / "calibrator.json").is_file():
        raise NotReadyError(
            f"the artifacts of model {entry.version} are missing ({entry.path}, nor in the models folder beside "
            "the warehouse): restore the data dir's models folder, or retrain (`featurecast signals train --promote`)"
        )
    model = FAMILIES[entry.family].load(entry.path, entry.features, entry.params)
    calibrator = PlattCalibrator.from_json((entry.path / "calibrator.json").read_text())
    return model, calibrator


@dataclass(frozen=True)
class PromotionDecision:
    """Whether a candidate may replace the champion, and the evidence."""

    candidate: str
    champion: str | None
    promote: bool
    reason: str
    rows_compared: int = 0
    candidate_auc: float | None = None
    champion_auc: float | None = None


def promotion_decision(warehouse: Path, candidate: str, horizon: int) -> PromotionDecision:
    """The promotion rule: a candidate replaces the champion only if it is not worse on the same folds.

    "The same folds" are the (symbol, date) rows both versions predicted out of fold, each with its own
    walk-forward-calibrated probability. The candidate is promoted when its AUC on those rows is at least
    the champion's (a tie promotes: retraining on the same data is not a regression). With no champion the
    candidate is promoted; with no common rows it is not, and the reason says so.
    """
    from sklearn.metrics import roc_auc_score

    current = champion(warehouse, horizon)
    if current is None:
        return PromotionDecision(candidate, None, True, f"no champion for horizon {horizon}")
    if current.version == candidate:
        return PromotionDecision(
            candidate, current.version, True, "the candidate is the champion (same data, same model)"
        )
    con = duckdb.connect(str(warehouse), read_only=True)
    try:
        common = con.execute(
            """
            select c.label, c.p_calibrated as p_candidate, h.p_calibrated as p_champion
            from ml.oof_predictions c
            join ml.oof_predictions h using (symbol, date)
            where c.model_version = ? and h.model_version = ?
              and c.p_calibrated is not null and h.p_calibrated is not null
            """,
            [candidate, current.version],
        ).df()
    finally:
        con.close()
    if common.empty or common["label"].nunique() < 2:
        return PromotionDecision(
            candidate, current.version, False, "no out-of-fold rows in common with the champion: not compared"
        )
    auc_candidate = float(roc_auc_score(common["label"], common["p_candidate"]))
    auc_champion = float(roc_auc_score(common["label"], common["p_champion"]))
    promote_it = auc_candidate >= auc_champion
    verdict = "not worse than" if promote_it else "worse than"
    return PromotionDecision(
        candidate,
        current.version,
        promote_it,
        f"AUC {auc_candidate:.4f} {verdict} the champion's {auc_champion:.4f} "
        f"on {len(common):,} common out-of-fold rows",
        len(common),
        auc_candidate,
        auc_champion,
    )
