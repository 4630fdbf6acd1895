"""A model card per trained model, written beside its artifacts: data window, out-of-sample metrics with
the momentum baseline beside them, calibration (reliability table) and top features."""

from __future__ import annotations

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
        "| metric | model (calibrated) | model (raw) | momentum baseline (same folds) |",
        "|---|---|---|---|",
    ]
    for name in ("auc", "accuracy", "log_loss", "brier", "ece", "ic", "rank_ic", "icir", "n"):
        fmt = "{:,.0f}" if name == "n" else "{:.4f}"
        lines.append(f"| {name} | {fmt.format(m[name])} | {fmt.format(raw[name])} | {fmt.format(b[name])} |")
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
