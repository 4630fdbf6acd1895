"""`featurecast run` and `featurecast flow ...`: the Prefect flows.

Each flow takes the writer lock itself (a scheduled run has no CLI around it); the CLI takes it first as
well, so a busy warehouse is one line and exit 5 before a Prefect server starts, not a failed flow run.
The lock is reentrant within the process, and the analysts' copy is published once, at the outermost exit.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import replace

from featurecast import interrupts
from featurecast.cli.arguments import ticker
from featurecast.cli.shared import quiet_prefect
from featurecast.config import Settings
from featurecast.storage import check_warehouse
from featurecast.writer import exclusive_writer


def _use_engine(args: argparse.Namespace, settings: Settings) -> Settings:
    """`--target` sets FEATURECAST_ENGINE for this process, so every task of the flow builds and reads
    the marts on that engine."""
    if getattr(args, "target", None):
        os.environ["FEATURECAST_ENGINE"] = args.target
        return replace(settings, engine=args.target)
    return settings


def run(args: argparse.Namespace, settings: Settings) -> int:
    """The main job: the daily_refresh flow on the embedded synthetic market (training first if needed)."""
    quiet_prefect(args.verbose)
    interrupts.bridge_prefect_sigterm()
    settings = _use_engine(args, settings)
    from flows.daily_refresh import daily_refresh

    on = " on Apache Spark (local mode; the first Spark build takes minutes)" if settings.engine == "spark" else ""
    print(
        f"running the daily_refresh flow on the embedded synthetic market{on} (a temporary local Prefect "
        "server starts first; the first run also trains the signal models) ...",
        flush=True,
    )
    summary = daily_refresh(source="synthetic")
    print(summary.text())
    where = (
        f"marts:     on Spark (warehouse dir {settings.data_dir / 'spark' / 'warehouse'}); bars, models and "
        f"predictions: {settings.warehouse_path}\n"
        if settings.engine == "spark"
        else f"warehouse: {settings.warehouse_path}\n"
        'query it:  featurecast sql "select * from marts.fct_daily_features order by date desc limit 5"\n'
    )
    print(f"\n{where}dashboard: featurecast serve, then open http://127.0.0.1:8000/dashboard")
    return 0


def flow(args: argparse.Namespace, settings: Settings) -> int:
    quiet_prefect(args.verbose)
    interrupts.bridge_prefect_sigterm()
    if args.name == "serve":  # long-running: each scheduled run takes the lock for itself
        from flows.deployments import serve_deployments

        serve_deployments()
        return 0
    settings = _use_engine(args, settings)
    wrote: list[bool] = []  # whether the flow wrote anything (a night with nothing new leaves the copy)
    with exclusive_writer(settings, f"featurecast flow {args.name}", changed=lambda: all(wrote)):
        check_warehouse(settings.warehouse_path, writes=True)
        return _run_flow(args, wrote)


def _run_flow(args: argparse.Namespace, wrote: list[bool]) -> int:
    if args.name == "daily-refresh":
        from flows.daily_refresh import daily_refresh

        summary = daily_refresh(source=args.source, symbols=args.symbols or None, node_tasks=args.node_tasks)
        wrote.append(bool(summary.wrote))
        print(summary.text())
    elif args.name == "train-models":
        from flows.train_models import train_models

        result = train_models()
        print(result["decision"]["reason"], "->", "promoted" if result["decision"]["promoted"] else "kept the champion")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("run", help="the main job: the daily_refresh flow on the embedded synthetic market")
    parser.set_defaults(handler=run, writes=True)
    _target_argument(parser)
    parser = sub.add_parser("flow", help="run a Prefect flow now, or serve the scheduled deployments")
    parser.set_defaults(handler=flow)
    parser.add_argument("name", choices=["daily-refresh", "train-models", "serve"])
    parser.add_argument("--source", choices=["synthetic", "alphavantage", "none"], default="synthetic")
    parser.add_argument("--symbols", nargs="*", type=ticker, help="Alpha Vantage symbols (with --source alphavantage)")
    parser.add_argument(
        "--node-tasks",
        action="store_true",
        help="daily-refresh: every dbt node its own Prefect task run (slower; by default each stage's "
        "table artifact lists its nodes)",
    )
    _target_argument(parser)


def _target_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        choices=["duckdb", "spark"],
        help="engine the marts are built on and read from (default FEATURECAST_ENGINE, duckdb); see "
        "docs/scaling_out.md",
    )
