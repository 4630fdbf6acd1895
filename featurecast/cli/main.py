"""The `featurecast` command: one parser assembled from the command groups, and one error handler."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path

from featurecast import interrupts, redaction
from featurecast.cli import admin, backtest, build, features, flows, forecasts, ingest, regimes, serve, signals
from featurecast.cli.arguments import Parser
from featurecast.cli.errors import CliError, ExitCode, report
from featurecast.config import Settings

GROUPS = (flows, ingest, build, features, signals, regimes, forecasts, backtest, serve, admin)


def build_parser() -> argparse.ArgumentParser:
    import featurecast.cli as package

    parser = Parser(
        prog="featurecast",
        description=package.__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return parser


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    from featurecast.storage import check_warehouse
    from featurecast.warehouse_lock import warehouse_lock
    from featurecast.writer import exclusive_writer

    output = getattr(args, "output", None)
    if isinstance(output, Path):
        _refuse_output_among_data(output, settings)
    if getattr(args, "needs_warehouse", False) and not settings.warehouse_path.exists():
        raise CliError(f"no warehouse at {settings.warehouse_path}: run `featurecast run` first", ExitCode.NOT_READY)
    command = " ".join(["featurecast", args.command, *[str(v) for v in (getattr(args, "action", None),) if v]])
    with ExitStack() as stack:
        if getattr(args, "writes", False):
            stack.enter_context(exclusive_writer(settings, command))
        elif getattr(args, "reads_warehouse", False):
            stack.enter_context(
                warehouse_lock(settings.warehouse_path, timeout=settings.lock_timeout_seconds, command=command)
            )
        writes = bool(getattr(args, "writes", False))
        if writes or getattr(args, "reads_warehouse", False):  # our turn: a holder now is outside featurecast
            check_warehouse(settings.warehouse_path, writes=writes)  # a damaged file or a DuckDB client: one line
        return int(args.handler(args, settings))


def _refuse_output_among_data(output: Path, settings: Settings) -> None:
    """A file a command writes (--output) may not land where featurecast keeps its state: the data directory
    (warehouse, sidecar state files, models, snapshots, dbt's target) or beside the warehouse."""
    target = output.resolve()
    protected = {settings.data_dir.resolve()}
    if settings.warehouse_path.is_file():  # the sidecar state files sit beside the warehouse
        protected.add(settings.warehouse_path.resolve().parent)
    for directory in sorted(protected):
        if target.is_relative_to(directory):
            raise CliError(
                f"--output {str(output)[:80]!r} is inside the data directory {directory}, where featurecast keeps "
                "its state; write it somewhere else"
            )


def main(argv: Sequence[str] | None = None) -> int:
    if threading.current_thread() is not threading.main_thread():
        return _main(argv)
    restore_handlers = interrupts.install()
    try:
        code = _main(argv)
    except KeyboardInterrupt:  # a signal before the handler's own error handling was reached
        code = ExitCode.INTERRUPTED
    finally:
        restore_handlers()
    if interrupts.received() is not None:  # whatever the command made of it, it was interrupted
        return _report_interrupt()
    return code


def _report_interrupt() -> int:
    name = signal.Signals(interrupts.received() or signal.SIGINT).name
    interrupts.say(f"featurecast: interrupted ({name}); stopped cleanly, nothing half-done was kept")
    return ExitCode.INTERRUPTED


def _main(argv: Sequence[str] | None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        settings = Settings.from_env()
    except ValueError as exc:
        print(f"featurecast: configuration error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    redaction.register(settings.alphavantage_api_key)
    redaction.register_uri_password(settings.mongodb_uri)
    redaction.install_log_redaction()
    try:
        return _dispatch(args, settings)
    except SystemExit:
        raise
    except BrokenPipeError:  # the reader stopped reading (`| head`): not an error, and nothing more to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return ExitCode.OK
    except BaseException as exc:  # one line for every failure; unexpected ones leave their traceback in the log
        if args.verbose and not isinstance(exc, (CliError, KeyboardInterrupt)):
            logging.getLogger("featurecast").exception("failed")
        return report(exc, settings.log_dir)
