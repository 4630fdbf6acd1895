"""`featurecast build`, `release` and `docs`: dbt builds the features; reviewed bars come back in."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from featurecast.cli.arguments import iso_date, output_file, ticker
from featurecast.cli.shared import print_build, user
from featurecast.config import PROJECT_ROOT, Settings
from featurecast.marketdata.landing import RELEASABLE_RULES


def build(args: argparse.Namespace, settings: Settings) -> int:
    from dbt_project.runner import build as dbt_build

    started = time.perf_counter()
    summary = dbt_build(
        settings,
        full_refresh=args.full_refresh,
        select=args.select,
        selector=args.selector,
        full_data_tests=args.full_tests,
        target=None if (args.target or settings.engine) == "duckdb" else args.target or settings.engine,
    )
    print_build(summary, time.perf_counter() - started)
    if summary.success and not (args.select or args.selector) and (args.target or settings.engine) == "duckdb":
        from dbt_project.warehouse_summary import data_summary

        print(data_summary(settings.warehouse_path))
    return 0


def release(args: argparse.Namespace, settings: Settings) -> int:
    from featurecast.marketdata.landing import release_quarantine

    release_quarantine(
        settings.warehouse_path,
        args.symbol,
        args.date,
        args.rule,
        reason=args.reason,
        released_by=args.by or user(),
    )
    print(f"released {args.symbol.upper()} {args.date} from {args.rule}; the next build recomputes from that date")
    return 0


def docs(args: argparse.Namespace, settings: Settings) -> int:
    from dbt_project.feature_catalog import sync
    from dbt_project.feature_spec import write_feature_spec
    from dbt_project.invoke import run_dbt

    for path in sync():  # the YAML the feature catalogue generates, before dbt reads it
        print(f"wrote {path.relative_to(PROJECT_ROOT)} from dbt_project/feature_catalog.yml")
    run_dbt(["docs", "generate"], settings, quiet=True)
    # The spec traces lineage through full-build SQL (no incremental self-reference).
    spec_target = settings.data_dir / "dbt_spec_target"
    run_dbt(["compile", "--full-refresh"], settings, target_path=spec_target, quiet=True)
    out = Path(args.output)
    specs = write_feature_spec(spec_target / "manifest.json", out)
    print(f"wrote {out} ({len(specs)} columns); dbt docs: {settings.data_dir / 'dbt_target' / 'index.html'}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("build", help="dbt build: features, guardrails, unit tests")
    parser.set_defaults(handler=build, writes=True)
    parser.add_argument("--full-refresh", action="store_true")
    parser.add_argument(
        "--target",
        choices=["duckdb", "spark"],
        help="engine to build on: the DuckDB warehouse, or Apache Spark (local; see docs/scaling_out.md); "
        "default FEATURECAST_ENGINE (duckdb)",
    )
    parser.add_argument(
        "--full-tests",
        action="store_true",
        help="every data test reads whole tables (by default, per-date tests read only the dates changed since "
        "they last passed)",
    )
    stage = parser.add_mutually_exclusive_group()
    stage.add_argument("--select", help="dbt selection, e.g. +fct_daily_features")
    stage.add_argument(
        "--selector", choices=["features", "portfolio_books", "evaluation"], help="a stage named in selectors.yml"
    )

    parser = sub.add_parser("release", help="let a reviewed, quarantined bar back into the features")
    parser.set_defaults(handler=release, writes=True, needs_warehouse=True)
    parser.add_argument("symbol", type=ticker)
    parser.add_argument("date", type=iso_date, help="session date, YYYY-MM-DD")
    parser.add_argument("rule", choices=list(RELEASABLE_RULES))
    parser.add_argument("--reason", required=True, help="why the bar is genuine (kept with the release)")
    parser.add_argument("--by", help="who releases it (default: the current user)")

    parser = sub.add_parser("docs", help="dbt docs generate and the feature specification")
    parser.set_defaults(handler=docs, writes=True)
    parser.add_argument("--output", type=output_file(".md"), default=PROJECT_ROOT / "docs" / "feature_spec.md")
