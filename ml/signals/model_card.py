"""A model card per trained model, written beside its artifacts: data window, out-of-sample metrics with
the momentum baseline beside them, calibration (reliability table) and top features."""

from __future__ import annotations

from typing import Any

import pandas as pd


def render_model_card(metadata: dict, folds: pd.DataFrame, reliability: pd.DataFrame) -> str:
    """Markdown for one model. `folds`: its ml.cv_metrics rows; `reliability`: its ml.reliability rows."""
    m, raw, b = metadata["metrics"]["model"], metadata["metrics"]["model_raw"], metadata["metrics"]["baseline"]
    window = metadata["training_window"]
    lines = [
        f"# Model card: `{metadata['model_version']}`",
        "",
        f"- **Task**: probability that the log return over the next {metadata['horizon_sessions']} trading "
        "sessions is positive, per symbol and day.",
        f"- **Family**: {metadata['family']}; parameters in `metadata.json`; libraries "
        + ", ".join(f"{k} {v}" for k, v in metadata["libraries"].items())
        + ".",
        f"- **Data**: marts.fct_training_set, {window['rows']:,} rows from {window['first_date']} to "
        f"{window['last_date']}; {len(metadata['features'])} features (spec hash "
        f"`{metadata['feature_spec_hash'][:12]}`).",
        f"- **Validation**: walk-forward, {metadata['cv']['n_folds']} folds over the last "
        f"{metadata['cv']['test_fraction']:.0%} of dates, purge of overlapping label windows, embargo of "
        f"{metadata['cv']['embargo_dates']} dates. Calibration (Platt) is walk-forward too: fold k is calibrated "
        "on folds before it, so calibrated figures cover folds 2 onwards.",
        "",
        "## Out-of-sample metrics",
        "",
        "Overall figures of all three columns are on the same rows (folds 2 onwards, where a calibrated "
        "probability exists).",
        "",
        "| metric | model (calibrated) | model (raw) | momentum baseline (same rows) |",
        "|---|---|---|---|",
    ]
    for name in ("auc", "accuracy", "log_loss", "brier", "ece", "ic", "icir", "rank_ic", "rank_icir", "n"):
        if name not in m:  # a figure added after this model was trained
            continue
        fmt = "{:,.0f}" if name == "n" else "{:.4f}"
        lines.append(f"| {name} | {fmt.format(m[name])} | {fmt.format(raw[name])} | {fmt.format(b[name])} |")
    comparison = metadata["metrics"].get("comparison") or {}
    lines += qlib_report(m, b, comparison)
    if comparison:
        lines += [
            "",
            "## Model minus baseline, paired (same rows, 90% bootstrap interval over dates)",
            "",
            "| metric | difference | interval | reading |",
            "|---|---|---|---|",
        ]
        for name, row in comparison.items():
            better = row["difference"] < 0 if name in ("log_loss", "brier") else row["difference"] > 0
            settled = row["ci_low"] > 0 or row["ci_high"] < 0
            reading = ("model better" if better else "baseline better") if settled else "no difference shown"
            lines.append(
                f"| {name} | {row['difference']:+.4f} | {row['ci_low']:+.4f} to {row['ci_high']:+.4f} | {reading} |"
            )
    if "brier_resolution" in m:
        verdict = (
            "**predicts the base rate**: resolution is no higher than shuffled labels give, so a low ECE "
            "says nothing about skill"
            if m["predicts_base_rate"]
            else "resolution above what shuffled labels give"
        )
        lines += [
            "",
            "## Calibration with resolution",
            "",
            f"Brier {m['brier']:.4f} = reliability {m['brier_reliability']:.5f} − resolution "
            f"{m['brier_resolution']:.5f} + uncertainty {m['brier_uncertainty']:.4f} (binned). Resolution by "
            f"chance (95th percentile, shuffled labels): {m['resolution_null_q95']:.5f}: {verdict}. "
            f"Probabilities spread: std {m['p_std']:.4f}, 5th-95th percentile {m['p_q05']:.3f} to {m['p_q95']:.3f}.",
        ]
    lines += [
        "",
        "## Per fold (model, calibrated where available)",
        "",
        "| fold | test from | test to | train rows | AUC | baseline AUC | rank IC |",
        "|---|---|---|---|---|---|---|",
    ]
    per_fold = folds[folds["fold"] != "overall"]
    model_rows = per_fold[per_fold["scorer"] != "momentum_baseline"].sort_values("calibrated").groupby("fold").last()
    baseline_rows = per_fold[per_fold["scorer"] == "momentum_baseline"].set_index("fold")
    for fold, row in model_rows.iterrows():
        lines.append(
            f"| {fold} | {row['test_start']:%Y-%m-%d} | {row['test_end']:%Y-%m-%d} | "
            f"{row['train_rows']:,.0f} | {row['auc']:.4f} | {baseline_rows.loc[fold, 'auc']:.4f} | "
            f"{row['rank_ic']:+.4f} |"
        )
    lines += [
        "",
        "## Calibration (out-of-sample, calibrated probabilities)",
        "",
        "| probability bin | mean predicted | observed frequency | count |",
        "|---|---|---|---|",
    ]
    for row in reliability.dropna(subset=["count"]).itertuples():
        lines.append(
            f"| {row.bin_low:.1f}-{row.bin_high:.1f} | {row.mean_predicted:.3f} | {row.observed:.3f} | "
            f"{row.count:,.0f} |"
        )
    lines += [
        "",
        "## Top features (mean |SHAP| on the latest training rows, log-odds)",
        "",
        "| feature | mean abs contribution |",
        "|---|---|",
    ]
    for feature, value in metadata["top_features"].items():
        lines.append(f"| `{feature}` | {value:.5f} |")
    return "\n".join(lines) + "\n"


def qlib_report(model: dict[str, Any], baseline: dict[str, Any], comparison: dict[str, Any]) -> list[str]:
    """Qlib's signal report (IC, ICIR, Rank IC, Rank ICIR of the daily cross-sectional series) for the model
    and the momentum baseline on the same dates, with the paired interval of each difference."""
    names = ("ic", "icir", "rank_ic", "rank_icir")
    if not all(n in model and n in comparison for n in names):
        return []
    lines = [
        "",
        "## Qlib's signal report (daily cross-sectional IC, same dates for both)",
        "",
        "| | IC | ICIR | Rank IC | Rank ICIR |",
        "|---|---|---|---|---|",
        "| model | " + " | ".join(f"{model[n]:+.4f}" for n in names) + " |",
        "| momentum baseline | " + " | ".join(f"{baseline[n]:+.4f}" for n in names) + " |",
        "| difference (90% paired interval over days) | "
        + " | ".join(
            f"{comparison[n]['difference']:+.4f} ({comparison[n]['ci_low']:+.4f} to {comparison[n]['ci_high']:+.4f})"
            for n in names
        )
        + " |",
        "",
        "Qlib's published benchmark for reference (LightGBM on Alpha158, CSI300): IC 0.0448, ICIR 0.366, Rank IC "
        "0.0469, Rank ICIR 0.388. Benchmarks (indices) are never names; a date counts only with at least the "
        "documented minimum of names (FEATURECAST_MIN_UNIVERSE_SYMBOLS). The daily series is ml.signal_ic_daily.",
    ]
    return lines
