"""What every command group uses: who the operator is, build output, quiet Prefect logging."""

from __future__ import annotations

import argparse
import getpass
import logging
import os
from collections.abc import Callable

from dbt_project.runner import DbtRunSummary
from featurecast.config import Settings

Handler = Callable[[argparse.Namespace, Settings], int]


def user() -> str:
    """The operator's login name, recorded with releases and declarations."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def print_build(summary: DbtRunSummary, seconds: float) -> None:
    counts = summary.counts()
    print(f"dbt build finished in {seconds:.1f} s: " + ", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    for node in summary.warned:
        print(f"  warning {node.describe().removeprefix('test ')}")


class OneLine(logging.Filter):
    """Log records as one line, without tracebacks: the CLI's error handler reports the failure itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage().split("\n", 1)[0]
        record.msg, record.args, record.exc_info, record.exc_text, record.stack_info = message, None, None, None, None
        return True


def quiet_prefect(verbose: bool) -> None:
    """Prefect logs every task run at INFO, and a failed task or flow with its traceback. Unless --verbose,
    the CLI shows warnings and errors as one line each (the run's full logs stay in the Prefect UI/API)."""
    if verbose:
        return
    os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
    os.environ.setdefault("PREFECT_LOGGING_HANDLERS_CONSOLE_LEVEL", "CRITICAL")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, OneLine) for f in handler.filters):
            handler.addFilter(OneLine())


def writer_action(
    sub: argparse._SubParsersAction, group: str, group_help: str, action: str, action_help: str, handler: Handler
) -> argparse.ArgumentParser:
    """`featurecast GROUP ACTION`: a group with one writing action on an existing warehouse."""
    parser = sub.add_parser(group, help=group_help)
    actions = parser.add_subparsers(dest="action", required=True)
    leaf = actions.add_parser(action, help=action_help)
    leaf.set_defaults(handler=handler, writes=True, needs_warehouse=True)
    return leaf
