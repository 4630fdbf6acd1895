"""D1 signal models: honest validation, explainable scores, reproducible artifacts."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest

from dbt_project.runner import build
from featurecast.marketdata.landing import land
from featurecast.marketdata.synthetic import random_walk
from ml.signals.cv import WalkForward
from ml.signals.models import FAMILIES
from ml.signals.registry import champion, promote
from ml.signals.score import score_latest
from ml.signals.train import cross_validate, metric_rows, train_signal_models
from tests.python.conftest import make_settings


def panel(n_dates: int = 400, n_symbols: int = 20, horizon: int = 5, seed: int = 0) -> pd.DataFrame:
    """A dates x symbols frame with a label window of `horizon` dates."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2020-01-01", periods=n_dates + horizon)
    rows = []
    for i, day in enumerate(dates[:n_dates]):
        for s in range(n_symbols):
            rows.append({"date": day, "symbol": f"S{s:02d}", "label_end_date": dates[i + horizon]})
    frame = pd.DataFrame(rows)
    frame["noise_a"], frame["noise_b"] = rng.normal(size=len(frame)), rng.normal(size=len(frame))
    frame["ret_21d"] = rng.normal(0, 0.05, len(frame))
    return frame


@pytest.mark.parametrize(
    "cv",
    [
        WalkForward(n_folds=4, embargo_dates=5, min_train_dates=100),
        WalkForward(n_folds=3, embargo_dates=10, min_train_dates=100, max_train_dates=150),
    ],
)
def test_purge_and_embargo_keep_every_label_window_out_of_its_test_fold(cv) -> None:
    frame = panel()
    dates = np.array(sorted(frame["date"].unique()))
    folds = cv.split(frame)
    assert len(folds) == cv.n_folds
    for fold in folds:
        train, test = frame.iloc[fold.train_index], frame.iloc[fold.test_index]
        assert len(train) and len(test)
        # Purge: no training label reaches the test block.
        assert (train["label_end_date"] < fold.test_start).all()
        # Embargo: at least `embargo_dates` dates between the last training date and the test block.
        gap = np.searchsorted(dates, fold.test_start) - np.searchsorted(dates, train["date"].max()) - 1
        assert gap >= cv.embargo_dates
        # Walk-forward: training is strictly before testing; test blocks tile the tail without overlap.
        assert train["date"].max() < test["date"].min()
        if cv.max_train_dates:
            assert train["date"].nunique() <= cv.max_train_dates
    ends = [f.test_end for f in folds]
    starts = [f.test_start for f in folds]
    assert all(e < s for e, s in zip(ends, starts[1:], strict=False))


def test_too_little_history_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="need at least 252"):
        WalkForward().split(panel(n_dates=300))


@pytest.mark.parametrize("family", ["lightgbm", "catboost"])
def test_contributions_plus_base_reproduce_the_raw_score(family) -> None:
    frame = panel(n_dates=150)
    frame.loc[frame.sample(frac=0.1, random_state=1).index, "noise_b"] = np.nan  # missing values too
    y = (frame["noise_a"] + np.random.default_rng(2).normal(size=len(frame)) > 0).astype(int).to_numpy()
    model = FAMILIES[family](
        ["noise_a", "noise_b", "ret_21d"],
        {**FAMILIES[family].default_params(), **({"n_estimators": 50} if family == "lightgbm" else {"iterations": 50})},
    ).fit(frame, y)
    contributions, base = model.contributions(frame)
    np.testing.assert_allclose(contributions.sum(axis=1) + base, model.raw_score(frame), atol=1e-6)
    np.testing.assert_allclose(model.probability(frame), 1 / (1 + np.exp(-model.raw_score(frame))))


def test_a_planted_feature_is_found_and_beats_momentum_out_of_sample() -> None:
    frame = panel(n_dates=500, n_symbols=30, seed=3)
    rng = np.random.default_rng(4)
    frame["forward_return"] = rng.normal(0, 0.03, len(frame))
    frame["label"] = (frame["forward_return"] > 0).astype(int)
    # A small edge: the planted feature is the forward return's sign seen through heavy noise.
    frame["planted"] = np.sign(frame["forward_return"]) * 0.3 + rng.normal(0, 1, len(frame))
    features = ["noise_a", "noise_b", "ret_21d", "planted"]
    cv = WalkForward(n_folds=3, embargo_dates=5, min_train_dates=200)
    for family in ("lightgbm", "catboost"):
        result = cross_validate(frame, features, family, cv)
        overall = metric_rows(result, "test", family).query("fold == 'overall'").set_index(["scorer", "calibrated"])
        model_auc = overall.loc[(family, True), "auc"]
        baseline_auc = overall.loc[("momentum_baseline", False), "auc"]
        assert model_auc > baseline_auc + 0.05, (family, model_auc, baseline_auc)
        assert overall.loc[(family, True), "rank_ic"] > 0.05
        model = FAMILIES[family](features).fit(frame, frame["label"].to_numpy())
        contributions, _ = model.contributions(frame.tail(2000))
        importance = pd.Series(np.abs(contributions).mean(axis=0), index=features)
        assert importance.idxmax() == "planted", importance.to_dict()


@pytest.fixture(scope="module")
def random_walk_warehouse(tmp_path_factory):
    settings = make_settings(tmp_path_factory.mktemp("random_walk"))
    land(settings.warehouse_path, random_walk(30, 4.0, seed=13), source="synthetic")
    build(settings, select="+fct_training_set +dim_trading_calendar", quiet=True)
    return settings


@pytest.mark.dbt
def test_leakage_canary_a_random_walk_scores_auc_one_half(random_walk_warehouse) -> None:
    """Real features from the real dbt build on pure random walks: any edge would be leakage."""
    settings = random_walk_warehouse
    trained = train_signal_models(settings.warehouse_path, settings.models_dir, horizon=5, families=("lightgbm",))
    metrics = trained[0].metrics
    for which in ("model", "model_raw"):
        assert abs(metrics[which]["auc"] - 0.5) < 0.03, metrics[which]
        assert abs(metrics[which]["ic"]) < 0.03 and abs(metrics[which]["rank_ic"]) < 0.03, metrics[which]
    assert metrics["model_raw"]["n"] > 10_000


@pytest.fixture(scope="module")
def trained_warehouse(clean_warehouse, tmp_path_factory):
    import shutil

    settings = make_settings(tmp_path_factory.mktemp("trained"))
    shutil.copy(clean_warehouse.path, settings.warehouse_path)
    cv = WalkForward(n_folds=3, embargo_dates=5, min_train_dates=252)
    first = train_signal_models(settings.warehouse_path, settings.models_dir, cv=cv, promote_best=True)
    again = train_signal_models(settings.warehouse_path, settings.models_dir, cv=cv)
    return settings, first, again


@pytest.mark.dbt
def test_training_writes_artifacts_metrics_and_one_registry_row_per_version(trained_warehouse) -> None:
    settings, first, again = trained_warehouse
    assert [t.version for t in first] == [t.version for t in again]  # same data, same version
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        registry = con.execute("select model_version, family, is_champion from ml.model_registry").fetchall()
        metric_counts = con.execute(
            "select model_version, scorer, count(*) from ml.cv_metrics group by all order by all"
        ).fetchall()
        reliability = con.execute("select count(*) from ml.reliability").fetchone()[0]
    finally:
        con.close()
    assert len(registry) == 2 and sum(champ for _, _, champ in registry) == 1
    # 3 folds + overall for each scorer; calibrated metrics start at fold 2 (walk-forward calibration).
    counts = {(v, s): n for v, s, n in metric_counts}
    for trained in first:
        assert counts[(trained.version, trained.family)] == 4 + 3
        assert counts[(trained.version, "momentum_baseline")] == 4
        metadata = json.loads((trained.path / "metadata.json").read_text())
        assert metadata["features"] and len(metadata["feature_spec_hash"]) == 64
        assert {"lightgbm", "catboost", "duckdb"} <= set(metadata["libraries"])
        assert metadata["training_window"]["rows"] > 0 and metadata["top_features"]
        assert (trained.path / "calibrator.json").exists()
        card = (trained.path / "model_card.md").read_text()
        assert trained.version in card and "momentum baseline" in card and "## Calibration" in card
    assert reliability == 2 * 10


@pytest.mark.dbt
def test_model_and_baseline_are_scored_on_exactly_the_same_rows(trained_warehouse) -> None:
    """The overall figures of every scorer cover the same (symbol, date) rows, recomputable from the stored
    out-of-fold predictions, and the paired differences are on those rows too."""
    from sklearn.metrics import roc_auc_score

    settings, first, _ = trained_warehouse
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        for trained in first:
            overall = con.execute(
                "select scorer, calibrated, n, auc from ml.cv_metrics where model_version = ? and fold = 'overall'",
                [trained.version],
            ).fetchall()
            rows = con.execute(
                "select label, p_raw, p_calibrated, p_baseline from ml.oof_predictions "
                "where model_version = ? and p_calibrated is not null",
                [trained.version],
            ).df()
            comparison = (
                con.execute(
                    "select metric, model, baseline, difference, ci_low, ci_high, n_rows from ml.cv_comparisons "
                    "where model_version = ? order by metric",
                    [trained.version],
                )
                .df()
                .set_index("metric")
            )
            # every scorer: the same number of rows, and its AUC recomputes on the calibrated rows
            assert {n for _, _, n, _ in overall} == {len(rows)}
            recomputed = {
                (trained.family, False): roc_auc_score(rows["label"], rows["p_raw"]),
                (trained.family, True): roc_auc_score(rows["label"], rows["p_calibrated"]),
                ("momentum_baseline", False): roc_auc_score(rows["label"], rows["p_baseline"]),
            }
            for scorer, calibrated, _, auc in overall:
                assert auc == pytest.approx(recomputed[(scorer, calibrated)], abs=1e-12)
            auc = comparison.loc["auc"]
            assert auc["n_rows"] == len(rows)
            assert auc["difference"] == pytest.approx(auc["model"] - auc["baseline"])
            assert auc["baseline"] == pytest.approx(recomputed[("momentum_baseline", False)], abs=1e-12)
            assert auc["ci_low"] <= auc["difference"] <= auc["ci_high"]
            assert set(comparison.index) == {"auc", "brier", "log_loss", "ic", "icir", "rank_ic", "rank_icir"}
            assert trained.metrics["comparison"]["auc"]["difference"] == pytest.approx(auc["difference"])
            # Qlib's report: the stored daily series gives the overall IC, ICIR, Rank IC and Rank ICIR exactly
            days = con.execute(
                "select scorer, date, names, ic, rank_ic from ml.signal_ic_daily where model_version = ? "
                "order by scorer, date",
                [trained.version],
            ).df()
            assert set(days["scorer"]) == {trained.family, "momentum_baseline"} and (days["names"] >= 10).all()
            for scorer, group in days.groupby("scorer"):
                model = "baseline" if scorer == "momentum_baseline" else "model"
                figures = trained.metrics[model]
                assert figures["ic"] == pytest.approx(group["ic"].mean(), abs=1e-12)
                assert figures["rank_ic"] == pytest.approx(group["rank_ic"].mean(), abs=1e-12)
                assert figures["icir"] == pytest.approx(group["ic"].mean() / group["ic"].std(), abs=1e-12)
                assert figures["rank_icir"] == pytest.approx(
                    group["rank_ic"].mean() / group["rank_ic"].std(), abs=1e-12
                )
                assert comparison.loc["rank_icir", model] == pytest.approx(figures["rank_icir"], abs=1e-12)
            for metric in ("ic", "icir", "rank_ic", "rank_icir"):
                row = comparison.loc[metric]
                assert row["ci_low"] <= row["difference"] <= row["ci_high"], metric
    finally:
        con.close()


def test_a_model_that_predicts_the_base_rate_is_flagged_however_low_its_ece() -> None:
    from ml.signals.metrics import calibration_with_resolution, expected_calibration_error

    rng = np.random.default_rng(5)
    y = (rng.random(20_000) < 0.55).astype(int)
    base_rate_model = np.clip(0.55 + rng.normal(0, 0.02, len(y)), 0.01, 0.99)  # well calibrated, no skill
    flat = calibration_with_resolution(y, base_rate_model)
    assert expected_calibration_error(y, base_rate_model) < 0.01 and flat["predicts_base_rate"]
    assert flat["p_q95"] - flat["p_q05"] < 0.1
    informed = np.where(y == 1, 0.62, 0.45) + rng.normal(0, 0.05, len(y))  # real resolution
    skilled = calibration_with_resolution(y, np.clip(informed, 0.01, 0.99))
    assert not skilled["predicts_base_rate"] and skilled["brier_resolution"] > 10 * skilled["resolution_null_q95"]
    for result in (flat, skilled):
        assert result["brier_uncertainty"] == pytest.approx(y.mean() * (1 - y.mean()))


def test_the_paired_interval_separates_a_real_edge_from_none() -> None:
    from ml.signals.metrics import paired_comparison

    rng = np.random.default_rng(6)
    dates = np.repeat(np.arange(300), 20)
    ret = rng.normal(0, 0.02, len(dates))
    y = (ret > 0).astype(int)
    noise = rng.random(len(y))
    edge = 1 / (1 + np.exp(-(ret * 40 + rng.normal(0, 1, len(y)))))
    # Two coin flips: the 90% interval of their AUC difference should hold zero about 9 times in 10.
    covered = 0
    for seed in range(12):
        coins = np.random.default_rng(100 + seed)
        flips = paired_comparison(y, coins.random(len(y)), coins.random(len(y)), dates, ret, draws=100)
        low, high = flips.set_index("metric").loc["auc", ["ci_low", "ci_high"]]
        covered += low <= 0 <= high
    assert covered >= 9, covered
    better = paired_comparison(y, edge, noise, dates, ret, min_names=10).set_index("metric")
    assert better.loc["auc", "ci_low"] > 0.1 and better.loc["rank_ic", "ci_low"] > 0
    assert better.loc["log_loss", "ci_high"] < 0 or better.loc["brier", "ci_high"] < 0


@pytest.mark.dbt
def test_scoring_is_idempotent_and_explains_every_score(trained_warehouse) -> None:
    settings, _, _ = trained_warehouse
    report = score_latest(settings.warehouse_path, last_dates=10)
    score_latest(settings.warehouse_path, last_dates=10)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        rows = con.execute("select symbol, date, count(*) from ml.signals group by all having count(*) > 1").fetchall()
        sample = con.execute("select raw_score, base_value, contributions, probability from ml.signals").fetchall()
        n = con.execute("select count(*), count(distinct date) from ml.signals").fetchone()
    finally:
        con.close()
    assert rows == [] and n == (report.rows, 10)
    for raw, base, contributions, probability in sample:
        assert abs(base + sum(contributions) - raw) < 1e-6
        assert 0 < probability < 1


@pytest.mark.dbt
def test_promotion_is_explicit(trained_warehouse) -> None:
    settings, first, _ = trained_warehouse
    current = champion(settings.warehouse_path, 5)
    other = next(t.version for t in first if t.version != current.version)
    promote(settings.warehouse_path, other)
    assert champion(settings.warehouse_path, 5).version == other
    with pytest.raises(ValueError, match="no model version"):
        promote(settings.warehouse_path, "nope")
    promote(settings.warehouse_path, current.version)


@pytest.mark.dbt
def test_a_copied_data_dir_scores_with_its_own_models_and_a_missing_one_is_a_clear_error(
    trained_warehouse, tmp_path
) -> None:
    """The registry records absolute artifact paths; a data dir copied (or moved, or restored) elsewhere
    loads the champion from its own models folder, and still does once the original is gone. Without its
    models folder, loading says what is missing and how to get it back, instead of a LightGBM error."""
    import dataclasses
    import shutil

    from featurecast.errors import NotReadyError
    from ml.signals.registry import load_model

    settings, _, _ = trained_warehouse
    original = tmp_path / "original"
    shutil.copytree(settings.data_dir, original, ignore=shutil.ignore_patterns("*.lock"))
    copy = tmp_path / "copy"
    shutil.copytree(original, copy)
    shutil.rmtree(original)
    entry = champion(copy / "warehouse.duckdb", 5)
    assert entry is not None and entry.path == copy / "models" / entry.version
    model, calibrator = load_model(entry)
    assert model is not None and calibrator is not None

    shutil.rmtree(copy / "models")  # (the recorded directory, the fixture's, still exists: not asked here)
    gone = dataclasses.replace(entry, path=copy / "models" / entry.version)
    with pytest.raises(NotReadyError, match=f"artifacts of model {entry.version} are missing.*retrain"):
        load_model(gone)


@pytest.mark.dbt
def test_promotion_rule_compares_with_the_champion_on_the_same_out_of_fold_rows(served_stack, tmp_path):
    import shutil

    from ml.signals.registry import champion, promotion_decision

    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(served_stack.warehouse_path, warehouse)
    current = champion(warehouse, 5)
    assert promotion_decision(warehouse, current.version, 5).promote  # re-training the same is not a regression
    con = duckdb.connect(str(warehouse))
    try:
        for version, probability in (("perfect", "label"), ("inverted", "1 - label")):
            con.execute(
                f"insert into ml.oof_predictions select '{version}', fold, date, symbol, label, forward_return, "
                f"p_raw, {probability}, p_baseline from ml.oof_predictions where model_version = ?",
                [current.version],
            )
        common = con.execute(
            "select count(*) from ml.oof_predictions where model_version = ? and p_calibrated is not null",
            [current.version],
        ).fetchone()[0]
    finally:
        con.close()
    better = promotion_decision(warehouse, "perfect", 5)
    worse = promotion_decision(warehouse, "inverted", 5)
    assert better.promote and better.candidate_auc == 1.0 and better.rows_compared == common
    assert not worse.promote and worse.candidate_auc == 0.0 and "worse than" in worse.reason
    unrelated = promotion_decision(warehouse, "never-trained", 5)
    assert not unrelated.promote and "no out-of-fold rows in common" in unrelated.reason


def test_the_daily_ic_equals_a_correlation_computed_date_by_date() -> None:
    """daily_ic works on all dates at once; each date's IC and Rank IC must equal numpy's and scipy's on that
    date alone, with ties, missing values, dates with too few names and dates without spread left out."""
    from scipy import stats

    from ml.signals.metrics import daily_ic

    rng = np.random.default_rng(3)
    dates = np.repeat(pd.date_range("2024-01-01", periods=60).to_numpy(), 25)
    score = rng.normal(size=len(dates)).round(1)  # rounded: ties within a date
    ret = rng.normal(size=len(dates))
    score[rng.random(len(dates)) < 0.1] = np.nan
    ret[:25] = 0.01  # the first date: no spread in the returns
    score[25:50] = 0.5  # the second: no spread in the scores
    keep = np.ones(len(dates), bool)
    keep[50:70] = False  # the third date keeps 5 names: fewer than min_names
    got = daily_ic(dates[keep], score[keep], ret[keep], min_names=10).set_index("date")

    frame = pd.DataFrame({"date": dates[keep], "score": score[keep], "ret": ret[keep]}).dropna()
    expected = {}
    for date, group in frame.groupby("date"):
        if len(group) >= 10 and group["score"].nunique() > 1 and group["ret"].nunique() > 1:
            expected[date] = (
                len(group),
                np.corrcoef(group["score"], group["ret"])[0, 1],
                stats.spearmanr(group["score"], group["ret"]).statistic,
            )
    assert len(expected) == 57 and sorted(got.index) == sorted(expected)
    for date, (names, ic, rank_ic) in expected.items():
        row = got.loc[date]
        assert row["names"] == names
        assert row["ic"] == pytest.approx(ic, rel=1e-12, abs=1e-14)
        assert row["rank_ic"] == pytest.approx(rank_ic, rel=1e-12, abs=1e-14)
    empty = daily_ic(dates[:25], score[:25], ret[:25], min_names=10)
    assert empty.empty and list(empty.columns) == ["date", "names", "ic", "rank_ic"]
