"""`featurecast sql|calendar|config`: read the warehouse safely, refresh the calendar, show settings."""

from __future__ import annotations

import argparse
import sys
from contextlib import ExitStack
from pathlib import Path

from featurecast.cli.arguments import bounded
from featurecast.cli.errors import CliError, ExitCode
from featurecast.config import PROJECT_ROOT, Settings
from featurecast.warehouse_lock import warehouse_lock

# Statement types `featurecast sql` runs: DuckDB parses describe, show, summarize, from-first queries and
# table-returning pragmas into SELECT. Everything else (copy, export, attach, install, load, set, pragma
# that changes state, create, insert, checkpoint, vacuum, call) is refused before anything runs.
READ_STATEMENTS = frozenset({"SELECT", "EXPLAIN"})

# A read-only connection that cannot reach the file system, load extensions or change its configuration.
SANDBOX: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False,
    "autoload_known_extensions": False,
    "autoinstall_known_extensions": False,
    "allow_community_extensions": False,
    "lock_configuration": True,
}


def _source(args: argparse.Namespace, settings: Settings) -> tuple[Path, str | None]:
    from featurecast.analyst_copy import published_at

    copy = settings.analyst_copy_path
    stamp = None if args.live else published_at(copy)
    if stamp is not None:
        return copy, f"reading the analysts' copy published {stamp:%Y-%m-%d %H:%M} UTC (--live for the warehouse)"
    if not settings.warehouse_path.exists():
        raise CliError(f"no warehouse at {settings.warehouse_path}: run `featurecast run` first", ExitCode.NOT_READY)
    return settings.warehouse_path, None


def sql(args: argparse.Namespace, settings: Settings) -> int:

    if not args.query.strip():
        raise CliError("sql needs a query, e.g. featurecast sql \"select * from marts.dim_symbols\"")
    path, note = _source(args, settings)
    with ExitStack() as stack:
        if path == settings.warehouse_path:  # no copy yet, or --live: take turns with the writers
            stack.enter_context(warehouse_lock(path, timeout=settings.lock_timeout_seconds, command="featurecast sql"))
        return _run(con_path=path, note=note, args=args)


def _run(*, con_path: Path, note: str | None, args: argparse.Namespace) -> int:
    import duckdb

    con = duckdb.connect(str(con_path), read_only=True, config=SANDBOX)
    try:
        try:
            statements = con.extract_statements(args.query)
        except duckdb.Error as exc:
            raise CliError(f"query failed: {' '.join(str(exc).split())[:300]}") from None
        refused = sorted({s.type.name for s in statements} - READ_STATEMENTS)
        if refused:
            raise CliError(
                f"sql only reads: {', '.join(refused).lower()} statements are refused; nothing was run"
            )
        if note and not args.quiet:
            print(note, file=sys.stderr)
        for statement in statements:
            try:
                relation = con.sql(statement.query)
                if relation is not None:
                    relation.show(max_rows=args.max_rows, max_width=200)
            except duckdb.Error as exc:
                raise CliError(f"query failed: {' '.join(str(exc).split())[:300]}") from None
    finally:
        con.close()
    return 0


def calendar(args: argparse.Namespace, settings: Settings) -> int:
    from featurecast.calendar import write_calendar_seed

    path = PROJECT_ROOT / "seeds" / "market_calendar_exceptions.csv"
    print(f"wrote {write_calendar_seed(path)} calendar exceptions to {path}")
    return 0


def config(args: argparse.Namespace, settings: Settings) -> int:
    for key, value in vars(settings).items():
        if key in ("alphavantage_api_key", "mongodb_uri"):
            value = "(set)" if value else "(unset)"
        print(f"{key} = {value}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("sql", help="a read-only SQL query against the analysts' copy of the warehouse")
    parser.set_defaults(handler=sql)
    parser.add_argument("query")
    parser.add_argument("--max-rows", type=bounded(int, low=1, high=1_000_000), default=40)
    parser.add_argument("--live", action="store_true", help="read the warehouse itself (waits for a writer)")
    parser.add_argument("--quiet", action="store_true", help="no note on stderr about which copy was read")
    parser = sub.add_parser("calendar", help="rewrite the calendar seed from pandas_market_calendars' NYSE calendar")
    parser.set_defaults(handler=calendar)
    parser = sub.add_parser("config", help="print the resolved configuration")
    parser.set_defaults(handler=config)
