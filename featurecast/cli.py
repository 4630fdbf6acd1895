"""The `featurecast` command.

    featurecast run                      the main job: daily_refresh on the embedded synthetic market
    featurecast flow daily-refresh|train-models|serve   Prefect flows now, or their scheduled deployments
    featurecast backtest [--k 5 --cost-bps 5 ...]       backtest the champion's out-of-fold signals
    featurecast ingest synthetic|csv|alphavantage ...
    featurecast build [--full-refresh]   dbt build (features, guardrails, unit tests)
    featurecast docs                     dbt docs generate + docs/feature_spec.md from the manifest
    featurecast sql "select ..."         read-only SQL against the warehouse
    featurecast release SYMBOL DATE RULE --reason ...   let a reviewed quarantined bar back in
    featurecast signals train|promote|score    direction signal models (D1)
    featurecast regimes refresh [--refit]      the daily regime batch (D2)
    featurecast forecasts issue                percentile forecasts + their evaluation (D3)
    featurecast publish / serve / openapi       serving snapshot, HTTP API, OpenAPI schema
    featurecast screenshot [--output PNG]      the dashboard page in headless Chromium
    featurecast calendar                 rewrite seeds/market_calendar_exceptions.csv (pandas_market_calendars)
    featurecast config                   print the resolved configuration

Exit codes: 0 ok, 1 the build failed (a structural guardrail, a model error, a contract), 2 the input was
rejected (nothing was written), 3 usage or configuration error.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from featurecast.config import PROJECT_ROOT, Settings
from featurecast.marketdata.errors import IngestError
from featurecast.marketdata.landing import RELEASABLE_RULES, LoadReport

log = logging.getLogger("featurecast")


def _parse_mapping(items: Sequence[str]) -> dict[str, str]:
    mapping = {}
    for item in items:
        if "=" not in item:
            raise SystemExit(f"featurecast: --map expects COLUMN=field, got {item!r}")
        column, field = item.split("=", 1)
        mapping[column.strip()] = field.strip()
    return mapping


def _user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _print_load(report: LoadReport) -> None:
    print(
        f"landed batch {report.batch_id} from {report.source}: {len(report.symbols)} symbols, "
        f"{report.rows_received} rows received, {report.rows_inserted} inserted, {report.rows_updated} updated, "
        f"{report.rows_unchanged} unchanged, {report.duplicates_collapsed} exact duplicates collapsed"
    )


def _cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from featurecast.marketdata.service import MarketDataService
    from featurecast.marketdata.synthetic import DefectSpec, SyntheticSpec

    service = MarketDataService(settings)
    if args.provider == "synthetic":
        base = service.default_synthetic_spec()
        spec = SyntheticSpec(
            n_symbols=args.symbols or base.n_symbols,
            years=args.years or base.years,
            end=base.end,
            seed=args.seed if args.seed is not None else base.seed,
        )
        report = service.ingest_synthetic(spec, defects=DefectSpec() if args.defects else None)
    elif args.provider == "csv":
        report = service.ingest_csv(
            [Path(p) for p in args.files],
            symbol=args.symbol,
            mapping=_parse_mapping(args.map),
            ignore=args.ignore,
            source=args.source,
            date_format=args.date_format,
            has_volume=args.volume,
            declared_by=_user(),
        )
    else:
        report = service.ingest_alphavantage(
            args.symbols, adjusted=not args.unadjusted, outputsize=args.outputsize, datatype=args.datatype
        )
    _print_load(report)
    return 0


def _cmd_build(args: argparse.Namespace, settings: Settings) -> int:
    from dbt_project.runner import build

    started = time.perf_counter()
    summary = build(settings, full_refresh=args.full_refresh, select=args.select)
    _print_build(summary, time.perf_counter() - started)
    return 0


def _print_build(summary, seconds: float) -> None:
    counts = summary.counts()
    print(f"dbt build finished in {seconds:.1f} s: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    for node in summary.warned:
        print(f"  warning {node.describe().removeprefix('test ')}")


def _quiet_prefect(verbose: bool) -> None:
    """Prefect logs every task run at INFO; the CLI shows warnings only unless --verbose."""
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def _cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    """The main job: the daily_refresh flow on the embedded synthetic market (training first if needed)."""
    _quiet_prefect(args.verbose)
    from flows.daily_refresh import daily_refresh

    print(
        "running the daily_refresh flow on the embedded synthetic market (a temporary local Prefect server "
        "starts first; the first run also trains the signal models) ...",
        flush=True,
    )
    summary = daily_refresh(source="synthetic")
    print(summary.text())
    print(
        f"\nwarehouse: {settings.warehouse_path}\n"
        'query it:  featurecast sql "select * from marts.fct_daily_features order by date desc limit 5"\n'
        "dashboard: featurecast serve, then open http://127.0.0.1:8000/dashboard"
    )
    return 0


def _cmd_flow(args: argparse.Namespace, settings: Settings) -> int:
    _quiet_prefect(args.verbose)
    if args.name == "daily-refresh":
        from flows.daily_refresh import daily_refresh

        print(daily_refresh(source=args.source, symbols=args.symbols or None).text())
    elif args.name == "train-models":
        from flows.train_models import train_models

        result = train_models()
        print(result["decision"]["reason"], "->", "promoted" if result["decision"]["promoted"] else "kept the champion")
    else:
        from flows.deployments import serve_deployments

        serve_deployments()
    return 0


def _cmd_screenshot(args: argparse.Namespace, settings: Settings) -> int:
    from app.browser import screenshot, serving

    with serving(settings) as url:
        path = screenshot(f"{url}/dashboard", Path(args.output))
    print(f"dashboard screenshot written to {path}")
    return 0


def _cmd_backtest(args: argparse.Namespace, settings: Settings) -> int:
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
    )
    report = run_backtest(settings.warehouse_path, config, horizon=settings.signal_horizon)
    table = report.metrics.pivot(index="metric", columns="book", values="value")
    window = f"{report.start_date:%Y-%m-%d} to {report.end_date:%Y-%m-%d}"
    print(f"backtest {report.run_id} of {report.model_version}, {window}")
    print(table.to_string(float_format=lambda v: f"{v:.4f}"))
    for row in report.metrics.dropna(subset=["ci_low"]).itertuples():
        print(f"{row.metric}: {row.value:+.3f} (90% bootstrap interval {row.ci_low:+.3f} to {row.ci_high:+.3f})")
    print(
        "the strategy's book is now portfolio signal_strategy in ml.portfolio_books; "
        "`featurecast build --select stg_ml__portfolio_books+` adds it to marts.fct_portfolio_daily"
    )
    return 0


def _print_trained(trained) -> None:
    m, b = trained.metrics["model"], trained.metrics["baseline"]
    print(
        f"  {trained.version}: out-of-sample AUC {m['auc']:.3f} (momentum baseline {b['auc']:.3f}), "
        f"log loss {m['log_loss']:.3f} ({b['log_loss']:.3f}), rank IC {m['rank_ic']:+.3f} "
        f"({b['rank_ic']:+.3f}), ECE {m['ece']:.3f}"
    )


def _cmd_signals(args: argparse.Namespace, settings: Settings) -> int:
    from ml.signals.registry import promote
    from ml.signals.score import score_latest
    from ml.signals.train import train_signal_models

    horizon = args.horizon or settings.signal_horizon
    if args.action == "train":
        families = tuple(args.family) if args.family else ("lightgbm", "catboost")
        for trained in train_signal_models(
            settings.warehouse_path,
            settings.models_dir,
            horizon=horizon,
            families=families,
            promote_best=args.promote,
            min_ic_names=settings.min_universe_symbols,
        ):
            _print_trained(trained)
    elif args.action == "promote":
        promote(settings.warehouse_path, args.version)
        print(f"{args.version} is now the champion")
    else:
        report = score_latest(settings.warehouse_path, horizon=horizon, last_dates=settings.score_dates)
        print(f"scored {report.rows:,} signals with {report.model_version}")
    return 0


def _refresh_regimes(settings: Settings, *, refit: bool = False) -> None:
    from ml.regimes.refresh import refresh_regimes
    from ml.regimes.store import open_store

    store, client = open_store(settings.mongodb_uri, settings.regime_store_dir)
    try:
        report = refresh_regimes(settings.warehouse_path, store, refit=refit)
    finally:
        client.close()
    probabilities = ", ".join(f"{name} {p:.2f}" for name, p in report.latest_probabilities.items())
    where = "MongoDB" if settings.mongodb_uri else f"the embedded store {settings.regime_store_dir}"
    print(
        f"regimes: {report.latest_date} is {report.latest_regime} ({probabilities}); model {report.model_version}"
        f"{' (fitted now)' if report.fitted else ''}; {report.days_written} days written to {where} and DuckDB "
        f"in {report.seconds:.2f} s"
    )


def _issue_forecasts(settings: Settings) -> None:
    import duckdb

    from dbt_project.runner import EVALUATION_SELECTOR, build
    from ml.forecasts.issue import issue_forecasts

    report = issue_forecasts(settings.warehouse_path)
    build(settings, select=EVALUATION_SELECTOR, quiet=True)
    con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    try:
        rows = con.execute(
            "select c.horizon, c.model, c.coverage_5_95, c.hit_rate_q05, c.mean_pinball_q50, v.kupiec_pass "
            "from marts.fct_forecast_calibration c join marts.fct_var_backtest v using (portfolio, model_version, "
            "horizon) where c.portfolio = 'equal_weight' order by c.horizon, c.model"
        ).fetchall()
    finally:
        con.close()
    print(
        f"forecasts: {report.forecasts:,} issued for {', '.join(report.portfolios)} up to "
        f"{report.latest_issue_date:%Y-%m-%d}; evaluated in marts.fct_forecast_calibration:"
    )
    for horizon, model, coverage, q05, pinball, kupiec in rows:
        print(
            f"  {horizon:>2} sessions {model:<10} 5-95 coverage {coverage:.1%} (target 90%), q05 hit {q05:.1%}, "
            f"median pinball {pinball:.4f}, Kupiec {'pass' if kupiec else 'FAIL'}"
        )


def _cmd_forecasts(args: argparse.Namespace, settings: Settings) -> int:
    _issue_forecasts(settings)
    return 0


def _cmd_regimes(args: argparse.Namespace, settings: Settings) -> int:
    _refresh_regimes(settings, refit=args.refit)
    return 0


def _cmd_publish(args: argparse.Namespace, settings: Settings) -> int:
    from app.snapshot import publish_snapshot

    path = publish_snapshot(settings.warehouse_path, settings.serving_dir, horizon=settings.signal_horizon)
    print(f"published {path}")
    return 0


def _cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from app.main import create_app

    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level="warning")
    return 0


def _cmd_openapi(args: argparse.Namespace, settings: Settings) -> int:
    import json

    from app.main import create_app

    text = json.dumps(create_app(settings).openapi(), indent=2, sort_keys=True) + "\n"
    Path(args.output).write_text(text)
    print(f"wrote {args.output}")
    return 0


def _cmd_docs(args: argparse.Namespace, settings: Settings) -> int:
    from dbt_project.feature_spec import write_feature_spec
    from dbt_project.runner import run_dbt

    run_dbt(["docs", "generate"], settings, quiet=True)
    # The spec traces lineage through full-build SQL (no incremental self-reference).
    spec_target = settings.data_dir / "dbt_spec_target"
    run_dbt(["compile", "--full-refresh"], settings, target_path=spec_target, quiet=True)
    out = Path(args.output)
    specs = write_feature_spec(spec_target / "manifest.json", out)
    print(f"wrote {out} ({len(specs)} columns); dbt docs: {settings.data_dir / 'dbt_target' / 'index.html'}")
    return 0


def _cmd_release(args: argparse.Namespace, settings: Settings) -> int:
    from datetime import date

    from featurecast.marketdata.landing import release_quarantine

    try:
        release_quarantine(
            settings.warehouse_path,
            args.symbol,
            date.fromisoformat(args.date),
            args.rule,
            reason=args.reason,
            released_by=args.by or _user(),
        )
    except ValueError as exc:
        print(f"featurecast: {exc}", file=sys.stderr)
        return 3
    print(f"released {args.symbol.upper()} {args.date} from {args.rule}; the next build recomputes from that date")
    return 0


def _cmd_sql(args: argparse.Namespace, settings: Settings) -> int:
    import duckdb

    if not settings.warehouse_path.exists():
        print(f"featurecast: no warehouse at {settings.warehouse_path}: run `featurecast run` first", file=sys.stderr)
        return 3
    try:
        con = duckdb.connect(str(settings.warehouse_path), read_only=True)
    except duckdb.Error as exc:  # e.g. a flow holds the write lock
        print(f"featurecast: cannot open the warehouse: {exc}", file=sys.stderr)
        return 3
    try:
        con.sql(args.query).show(max_rows=args.max_rows, max_width=200)
    except duckdb.Error as exc:
        print(f"featurecast: query failed: {exc}", file=sys.stderr)
        return 3
    finally:
        con.close()
    return 0


def _cmd_calendar(args: argparse.Namespace, settings: Settings) -> int:
    from featurecast.calendar import write_calendar_seed

    path = PROJECT_ROOT / "seeds" / "market_calendar_exceptions.csv"
    print(f"wrote {write_calendar_seed(path)} calendar exceptions to {path}")
    return 0


def _cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    for key, value in vars(settings).items():
        if key in ("alphavantage_api_key", "mongodb_uri"):
            value = "(set)" if value else "(unset)"
        print(f"{key} = {value}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="featurecast", description=__doc__.split("\n\n")[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)

    sub.add_parser("run", help="the main job: the daily_refresh flow on the embedded synthetic market")
    flow = sub.add_parser("flow", help="run a Prefect flow now, or serve the scheduled deployments")
    flow.add_argument("name", choices=["daily-refresh", "train-models", "serve"])
    flow.add_argument("--source", choices=["synthetic", "alphavantage", "none"], default="synthetic")
    flow.add_argument("--symbols", nargs="*", help="Alpha Vantage symbols (with --source alphavantage)")
    backtest = sub.add_parser("backtest", help="backtest the champion's out-of-fold signals")
    backtest.add_argument("--rule", choices=["top_k", "threshold"], default="top_k")
    backtest.add_argument("--k", type=int, default=5)
    backtest.add_argument("--threshold", type=float, default=0.55)
    backtest.add_argument("--long-short", action="store_true")
    backtest.add_argument("--max-weight", type=float, default=0.20)
    backtest.add_argument("--rebalance-every", type=int, help="sessions (default: the signal horizon)")
    backtest.add_argument("--cost-bps", type=float, default=5.0)
    backtest.add_argument("--slippage-bps", type=float, default=5.0)
    backtest.add_argument("--regime-gate", action="append", default=[], metavar="REGIME", help="cash in this regime")
    backtest.add_argument("--risk-gate-q05", type=float, help="cash when the 5-session q05 forecast is below this")

    ingest = sub.add_parser("ingest", help="land market data in raw.daily_ohlcv")
    providers = ingest.add_subparsers(dest="provider", required=True)
    synthetic = providers.add_parser("synthetic", help="the embedded deterministic synthetic market")
    synthetic.add_argument("--symbols", type=int)
    synthetic.add_argument("--years", type=float)
    synthetic.add_argument("--seed", type=int)
    synthetic.add_argument("--defects", action="store_true", help="inject feed defects for the guardrails")
    csv = providers.add_parser("csv", help="Alpha Vantage-layout or generic OHLCV CSV files")
    csv.add_argument("files", nargs="+")
    csv.add_argument("--symbol", help="symbol for files without a symbol column (default: file name)")
    csv.add_argument("--map", action="append", default=[], metavar="COLUMN=field", help="map a header")
    csv.add_argument("--ignore", action="append", default=[], metavar="COLUMN", help="skip a column")
    csv.add_argument("--source", default="csv", help="provider name to land the rows under")
    csv.add_argument(
        "--date-format", help="strptime format of the date column, e.g. %%d/%%m/%%Y (default: found from all rows)"
    )
    volume = csv.add_mutually_exclusive_group()
    volume.add_argument(
        "--no-volume", dest="volume", action="store_false", default=None,
        help="the symbols have no traded volume (an index): every volume feature is null",
    )
    volume.add_argument("--volume", dest="volume", action="store_true", help="the symbols' volume is traded volume")
    av = providers.add_parser("alphavantage", help="Alpha Vantage daily series (needs ALPHAVANTAGE_API_KEY)")
    av.add_argument("symbols", nargs="+")
    av.add_argument("--unadjusted", action="store_true", help="TIME_SERIES_DAILY instead of _ADJUSTED")
    av.add_argument("--outputsize", choices=["compact", "full"], default="compact")
    av.add_argument("--datatype", choices=["json", "csv"], default="json")

    build = sub.add_parser("build", help="dbt build: features, guardrails, unit tests")
    build.add_argument("--full-refresh", action="store_true")
    build.add_argument("--select")

    docs = sub.add_parser("docs", help="dbt docs generate and the feature specification")
    docs.add_argument("--output", default=str(PROJECT_ROOT / "docs" / "feature_spec.md"))
    release = sub.add_parser("release", help="let a reviewed, quarantined bar back into the features")
    release.add_argument("symbol")
    release.add_argument("date", help="session date, YYYY-MM-DD")
    release.add_argument("rule", choices=list(RELEASABLE_RULES))
    release.add_argument("--reason", required=True, help="why the bar is genuine (kept with the release)")
    release.add_argument("--by", help="who releases it (default: the current user)")
    signals = sub.add_parser("signals", help="train, promote or score the direction signal models")
    signals.add_argument("action", choices=["train", "promote", "score"])
    signals.add_argument("version", nargs="?", help="model version (for promote)")
    signals.add_argument("--horizon", type=int, choices=[1, 5, 21])
    signals.add_argument("--family", action="append", choices=["lightgbm", "catboost"])
    signals.add_argument("--promote", action="store_true", help="promote the best model of this training run")
    regimes = sub.add_parser("regimes", help="the daily regime batch: label new days, persist to MongoDB")
    regimes.add_argument("action", choices=["refresh"])
    regimes.add_argument("--refit", action="store_true", help="fit a new model version first")
    forecasts = sub.add_parser("forecasts", help="issue percentile forecasts and evaluate past ones (D3)")
    forecasts.add_argument("action", choices=["issue"])
    sub.add_parser("publish", help="publish a serving snapshot of the champion's signals")
    serve = sub.add_parser("serve", help="start the HTTP API (FastAPI + uvicorn)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    shot = sub.add_parser("screenshot", help="a PNG of the dashboard page, taken in headless Chromium")
    shot.add_argument("--output", default=str(PROJECT_ROOT / "docs" / "dashboard.png"))
    openapi = sub.add_parser("openapi", help="write the OpenAPI schema")
    openapi.add_argument("--output", default=str(PROJECT_ROOT / "docs" / "openapi.json"))
    sql = sub.add_parser("sql", help="run a read-only SQL query against the warehouse")
    sql.add_argument("query")
    sql.add_argument("--max-rows", type=int, default=40)
    sub.add_parser("calendar", help="rewrite the calendar seed from pandas_market_calendars' NYSE calendar")
    sub.add_parser("config", help="print the resolved configuration")
    return parser


COMMANDS = {
    "run": _cmd_run,
    "flow": _cmd_flow,
    "backtest": _cmd_backtest,
    "ingest": _cmd_ingest,
    "build": _cmd_build,
    "docs": _cmd_docs,
    "sql": _cmd_sql,
    "release": _cmd_release,
    "signals": _cmd_signals,
    "regimes": _cmd_regimes,
    "forecasts": _cmd_forecasts,
    "publish": _cmd_publish,
    "serve": _cmd_serve,
    "openapi": _cmd_openapi,
    "screenshot": _cmd_screenshot,
    "calendar": _cmd_calendar,
    "config": _cmd_config,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    from dbt_project.runner import DbtBuildError
    from ml.regimes.refresh import NoMarketSeriesError
    from ml.signals.cv import InsufficientHistoryError

    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"featurecast: configuration error: {exc}", file=sys.stderr)
        return 3
    try:
        return COMMANDS[args.command](args, settings)
    except IngestError as exc:
        print(f"featurecast: input rejected, nothing was written: {exc}", file=sys.stderr)
        return 2
    except DbtBuildError as exc:
        print(f"featurecast: {exc}", file=sys.stderr)
        return 1
    except (LookupError, InsufficientHistoryError, NoMarketSeriesError) as exc:  # no champion, too little history
        print(f"featurecast: {exc}", file=sys.stderr)
        return 3


if __name__ == "__main__":
    sys.exit(main())
