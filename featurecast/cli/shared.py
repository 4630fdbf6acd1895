"""What every command group uses: who the operator is, build output, quiet Prefect logging."""

from __future__ import annotations

import getpass
import os

from dbt_project.runner import DbtRunSummary


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


def quiet_prefect(verbose: bool) -> None:
    """Prefect logs every task run at INFO; the CLI shows warnings only unless --verbose."""
    if not verbose:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
