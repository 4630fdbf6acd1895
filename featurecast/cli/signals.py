"""`featurecast signals train|promote|score`: the direction signal models (D1)."""

from __future__ import annotations

import argparse
import math

from featurecast.config import Settings
from featurecast.marts import mart_reader, write_back


def _print_trained(trained) -> None:
    m, b = trained.metrics["model"], trained.metrics["baseline"]
    auc = (trained.metrics.get("comparison") or {}).get("auc")
    difference = ""
    if auc:
        difference = f", difference {auc['difference']:+.3f} (90% {auc['ci_low']:+.3f} to {auc['ci_high']:+.3f})"
    rank_ic = (
        f"rank IC {m['rank_ic']:+.3f} ({b['rank_ic']:+.3f})"
        if not math.isnan(m["rank_ic"])
        else "rank IC n/a (too few names per date)"
    )
    flag = "; predicts the base rate" if m.get("predicts_base_rate") else ""
    print(
        f"  {trained.version}: out-of-sample AUC {m['auc']:.3f} (momentum baseline {b['auc']:.3f} on the same rows"
        f"{difference}), log loss {m['log_loss']:.3f} ({b['log_loss']:.3f}), {rank_ic}, ECE {m['ece']:.3f}{flag}"
    )


def train(args: argparse.Namespace, settings: Settings) -> int:
    from ml.signals.train import train_signal_models

    families = tuple(args.family) if args.family else ("lightgbm", "catboost")
    for trained in train_signal_models(
        settings.warehouse_path,
        settings.models_dir,
        horizon=args.horizon or settings.signal_horizon,
        families=families,
        promote_best=args.promote,
        min_ic_names=settings.min_universe_symbols,
        marts=mart_reader(settings),
    ):
        _print_trained(trained)
    write_back(settings, "train")
    return 0


def promote(args: argparse.Namespace, settings: Settings) -> int:
    from ml.signals.registry import promote as promote_version

    promote_version(settings.warehouse_path, args.version)
    print(f"{args.version} is now the champion")
    return 0


def score(args: argparse.Namespace, settings: Settings) -> int:
    from ml.signals.score import score_latest

    horizon = args.horizon or settings.signal_horizon
    report = score_latest(
        settings.warehouse_path, horizon=horizon, last_dates=settings.score_dates, marts=mart_reader(settings)
    )
    write_back(settings, "score")
    print(f"scored {report.rows:,} signals with {report.model_version}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("signals", help="train, promote or score the direction signal models")
    actions = parser.add_subparsers(dest="action", required=True)
    horizon = argparse.ArgumentParser(add_help=False)
    horizon.add_argument("--horizon", type=int, choices=[1, 5, 21], help="sessions ahead (default: configured)")

    trainer = actions.add_parser("train", parents=[horizon], help="walk-forward training of new model versions")
    trainer.set_defaults(handler=train, writes=True, needs_warehouse=True)
    trainer.add_argument("--family", action="append", choices=["lightgbm", "catboost"])
    trainer.add_argument("--promote", action="store_true", help="promote the best model of this training run")

    promoter = actions.add_parser("promote", help="make a trained model version the champion")
    promoter.set_defaults(handler=promote, writes=True, needs_warehouse=True)
    promoter.add_argument("version", help="a model version from ml.model_registry")

    scorer = actions.add_parser("score", parents=[horizon], help="score recent dates with the champion")
    scorer.set_defaults(handler=score, writes=True, needs_warehouse=True)
