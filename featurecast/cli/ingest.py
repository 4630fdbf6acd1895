"""`featurecast ingest synthetic|csv|alphavantage`: land market data in raw.daily_ohlcv."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from featurecast.cli.arguments import bounded, date_pattern, ticker
from featurecast.cli.errors import CliError
from featurecast.cli.shared import user
from featurecast.config import Settings
from featurecast.marketdata.landing import LoadReport


def _parse_mapping(items: Sequence[str]) -> dict[str, str]:
    mapping = {}
    for item in items:
        column, sep, field = item.partition("=")
        if not sep or not column.strip() or not field.strip():
            raise CliError(f"--map expects COLUMN=field, got {item[:60]!r}")
        mapping[column.strip()] = field.strip()
    return mapping


def _print_load(report: LoadReport) -> None:
    for note in report.notes:
        print(note)
    print(
        f"landed batch {report.batch_id} from {report.source}: {len(report.symbols)} symbols, "
        f"{report.rows_received} rows received, {report.rows_inserted} inserted, {report.rows_updated} updated, "
        f"{report.rows_unchanged} unchanged, {report.duplicates_collapsed} exact duplicates collapsed"
    )


def ingest(args: argparse.Namespace, settings: Settings) -> int:
    from featurecast.marketdata.service import MarketDataService
    from featurecast.marketdata.synthetic import DefectSpec, SyntheticSpec

    service = MarketDataService(settings)
    if args.provider == "synthetic":
        base = service.default_synthetic_spec()
        spec = SyntheticSpec(
            n_symbols=base.n_symbols if args.symbols is None else int(args.symbols),
            years=base.years if args.years is None else float(args.years),
            end=base.end,
            seed=base.seed if args.seed is None else int(args.seed),
        )
        report = service.ingest_synthetic(spec, defects=DefectSpec() if args.defects else None)
    elif args.provider == "csv":
        missing = [f for f in args.files if not (Path(f).exists() or Path(f).is_symlink())]
        if missing:
            raise CliError(f"no such file: {missing[0][:200]}")
        report = service.ingest_csv(
            [Path(p) for p in args.files],
            symbol=args.symbol,
            mapping=_parse_mapping(args.map),
            ignore=args.ignore,
            source=args.source,
            date_format=args.date_format,
            has_volume=args.volume,
            declared_by=user(),
            wide=args.wide,
            benchmarks=args.benchmark,
        )
    else:
        report = service.ingest_alphavantage(
            args.symbols, adjusted=not args.unadjusted, outputsize=args.outputsize, datatype=args.datatype
        )
    _print_load(report)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("ingest", help="land market data in raw.daily_ohlcv")
    parser.set_defaults(handler=ingest, writes=True)
    providers = parser.add_subparsers(dest="provider", required=True)
    synthetic = providers.add_parser("synthetic", help="the embedded deterministic synthetic market")
    synthetic.add_argument("--symbols", type=bounded(int, low=1, high=10_000), help="how many symbols (default 40)")
    synthetic.add_argument(
        "--years", type=bounded(float, low=0.0, high=100.0, low_open=True), help="years of history (default 6)"
    )
    synthetic.add_argument("--seed", type=bounded(int, low=0, high=2**32 - 1), help="generator seed (default 7)")
    synthetic.add_argument("--defects", action="store_true", help="inject feed defects for the guardrails")
    csv = providers.add_parser("csv", help="Alpha Vantage-layout or generic OHLCV CSV files")
    csv.add_argument("files", nargs="+")
    csv.add_argument("--symbol", type=ticker, help="symbol for files without a symbol column (default: file name)")
    csv.add_argument("--map", action="append", default=[], metavar="COLUMN=field", help="map a header")
    csv.add_argument("--ignore", action="append", default=[], metavar="COLUMN", help="skip a column")
    csv.add_argument("--source", default="csv", help="provider name to land the rows under")
    csv.add_argument(
        "--date-format",
        type=date_pattern,
        help="strptime format of the date column, e.g. %%d/%%m/%%Y (default: found from all rows)",
    )
    csv.add_argument(
        "--wide",
        action="store_true",
        default=None,
        help="the file is wide: a date column and one close column per symbol (found automatically when every "
        "other header is a ticker)",
    )
    csv.add_argument(
        "--benchmark",
        action="append",
        default=[],
        type=ticker,
        metavar="SYMBOL",
        help="a symbol of these files that is a benchmark (an index): features kept, never traded or trained on",
    )
    volume = csv.add_mutually_exclusive_group()
    volume.add_argument(
        "--no-volume",
        dest="volume",
        action="store_false",
        default=None,
        help="the symbols have no traded volume (an index): every volume feature is null",
    )
    volume.add_argument("--volume", dest="volume", action="store_true", help="the symbols' volume is traded volume")
    av = providers.add_parser("alphavantage", help="Alpha Vantage daily series (needs ALPHAVANTAGE_API_KEY)")
    av.add_argument("symbols", nargs="+", type=ticker)
    av.add_argument("--unadjusted", action="store_true", help="TIME_SERIES_DAILY instead of _ADJUSTED")
    av.add_argument("--outputsize", choices=["compact", "full"], default="compact")
    av.add_argument("--datatype", choices=["json", "csv"], default="json")
