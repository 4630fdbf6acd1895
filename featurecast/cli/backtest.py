"""`featurecast backtest`: trade the champion's out-of-fold signals, with costs, against baselines."""

from __future__ import annotations

import argparse

from featurecast.cli.arguments import bounded
from featurecast.config import Settings
from featurecast.marts import mart_reader, write_back
from ml.forecasts.names import MODELS


def backtest(args: argparse.Namespace, settings: Settings) -> int:
    from ml.backtest.engine import StrategyConfig
    from ml.backtest.run import run_backtest

    config = StrategyConfig(
        rule=args.rule,
        k=args.k,
        threshold=args.threshold,
        long_short=args.long_short,
        max_weight=args.max_weight,
        rebalance_every=args.rebalance_every or settings.signal_horizon,
        cost_bps=args.cost_bps,
        slippage_bps=args.slippage_bps,
        regime_gate=tuple(args.regime_gate),
        risk_gate_q05=args.risk_gate_q05,
        risk_gate_forecaster=args.risk_gate_forecaster,
        drift=not args.no_drift,
    )
    report = run_backtest(
        settings.warehouse_path, config, horizon=settings.signal_horizon, marts=mart_reader(settings)
    )
    write_back(settings, "backtest")
    table = report.metrics.pivot(index="metric", columns="book", values="value")
    window = f"{report.start_date:%Y-%m-%d} to {report.end_date:%Y-%m-%d}"
    print(f"backtest {report.run_id} of {report.model_version}, {window}")
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    if report.risk_gate_forecaster:
        print(
            f"risk gate: cash when {report.risk_gate_forecaster}'s 5-session 5th percentile of the equal-weight "
            f"return is below {args.risk_gate_q05:+.3f}"
        )
    for warning in report.warnings:
        print(f"warning: {warning}")
    for row in report.metrics.dropna(subset=["ci_low"]).itertuples():
        print(f"{row.metric}: {row.value:+.3f} (90% bootstrap interval {row.ci_low:+.3f} to {row.ci_high:+.3f})")
    print(
        "the strategy's book is now portfolio signal_strategy in ml.portfolio_books; "
        "`featurecast build --selector portfolio_books` adds it to marts.fct_portfolio_daily"
    )
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("backtest", help="backtest the champion's out-of-fold signals")
    parser.set_defaults(handler=backtest, writes=True, needs_warehouse=True)
    parser.add_argument("--rule", choices=["top_k", "threshold"], default="top_k")
    parser.add_argument("--k", type=bounded(int, low=1, high=10_000), default=5, help="names held (top_k)")
    parser.add_argument("--threshold", type=bounded(float, low=0.0, high=1.0), default=0.55)
    parser.add_argument("--long-short", action="store_true")
    parser.add_argument("--max-weight", type=bounded(float, low=0.0, high=1.0, low_open=True), default=0.20)
    parser.add_argument(
        "--rebalance-every", type=bounded(int, low=1, high=2520), help="sessions (default: the signal horizon)"
    )
    parser.add_argument("--cost-bps", type=bounded(float, low=0.0, high=10_000.0), default=5.0)
    parser.add_argument("--slippage-bps", type=bounded(float, low=0.0, high=10_000.0), default=5.0)
    parser.add_argument(
        "--no-drift", action="store_true", help="reset weights to target every session for free (idealised book)"
    )
    parser.add_argument("--regime-gate", action="append", default=[], metavar="REGIME", help="cash in this regime")
    parser.add_argument(
        "--risk-gate-q05",
        type=bounded(float, low=-1.0, high=1.0),
        help="cash when the 5-session q05 forecast is below this",
    )
    parser.add_argument(
        "--risk-gate-forecaster",
        choices=MODELS,
        help="whose forecasts the risk gate reads (default: the champion served for the equal-weight book)",
    )
