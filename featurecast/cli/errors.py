"""Exit codes and the one handler that turns every expected failure into one line on stderr.

| code | meaning |
|---|---|
| 0 | done |
| 1 | a step failed: a structural guardrail, a model error or a contract (the failing rules are printed) |
| 2 | the input was rejected; nothing was written |
| 3 | usage or configuration error: a bad argument, environment variable or name; nothing was run |
| 4 | not ready: an earlier step has not run yet (no warehouse, no champion model, too little history) |
| 5 | busy: another command holds the warehouse, or a DuckDB client outside featurecast has it open |
| 6 | storage fault: a damaged or foreign warehouse file, a full disk, a read-only or wrong path |
| 70 | unexpected error: one line here, the traceback in `$FEATURECAST_DATA_DIR/logs/cli-errors.log` |
| 130 | interrupted (Ctrl-C or SIGTERM; a flow's temporary Prefect server is stopped too) |
"""

from __future__ import annotations

import sys
import traceback
from datetime import UTC, datetime
from enum import IntEnum
from pathlib import Path

from featurecast.redaction import cut, redact

_HELD_TEXT = "could not set lock on file"


class ExitCode(IntEnum):
    OK = 0
    STEP_FAILED = 1
    INPUT_REJECTED = 2
    USAGE = 3
    NOT_READY = 4
    BUSY = 5
    STORAGE = 6
    INTERNAL = 70
    INTERRUPTED = 130


class CliError(Exception):
    """An expected failure the CLI reports as one line with its exit code."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.code = code


def _first_line(exc: BaseException, limit: int = 600) -> str:
    return cut(" ".join(str(exc).split()), limit)


def classify(exc: BaseException) -> tuple[ExitCode, str]:
    """The exit code and the one-line message for an exception, or INTERNAL when it is unexpected."""
    import duckdb

    from dbt_project.runner import DbtBuildError
    from featurecast.api.browser import BrowserMissingError
    from featurecast.errors import NotReadyError
    from featurecast.features import FeatureLookupError
    from featurecast.marketdata.errors import IngestError, MissingApiKeyError
    from featurecast.marketdata.landing import ReleaseError
    from featurecast.storage import StorageFault, WarehouseHeldError, held_message, is_held, storage_fault
    from featurecast.warehouse_lock import WarehouseBusyError
    from ml.regimes.refresh import NoMarketSeriesError
    from ml.signals.cv import InsufficientHistoryError
    from ml.signals.registry import UnknownModelVersionError

    if isinstance(exc, CliError):
        return exc.code, _first_line(exc)
    if isinstance(exc, MissingApiKeyError):
        return ExitCode.USAGE, f"configuration error: {_first_line(exc)}"
    if isinstance(exc, IngestError):
        return ExitCode.INPUT_REJECTED, f"input rejected, nothing was written: {_first_line(exc)}"
    if isinstance(exc, StorageFault):
        return ExitCode.STORAGE, _first_line(exc)
    if isinstance(exc, WarehouseHeldError):
        return ExitCode.BUSY, _first_line(exc)
    if isinstance(exc, DbtBuildError):
        error = f"{exc.summary.error or ''} {exc}"
        if (fault := storage_fault(error)) is not None:
            return ExitCode.STORAGE, _first_line(fault)
        if _HELD_TEXT in error.lower():
            return ExitCode.BUSY, held_message()
        return ExitCode.STEP_FAILED, str(exc).strip()
    if isinstance(exc, WarehouseBusyError):
        return ExitCode.BUSY, _first_line(exc)
    if isinstance(exc, (UnknownModelVersionError, ReleaseError, FeatureLookupError)):
        return ExitCode.USAGE, _first_line(exc)
    if isinstance(exc, BrowserMissingError):
        return ExitCode.USAGE, f"configuration error: {_first_line(exc)}"
    if isinstance(exc, (InsufficientHistoryError, NoMarketSeriesError, NotReadyError)):
        return ExitCode.NOT_READY, _first_line(exc)
    if is_held(exc):
        return ExitCode.BUSY, held_message()
    if isinstance(exc, (duckdb.Error, OSError)) and (fault := storage_fault(exc)) is not None:
        return ExitCode.STORAGE, _first_line(fault)
    if isinstance(exc, duckdb.CatalogException):
        return ExitCode.NOT_READY, (
            f"the warehouse does not have what this needs yet ({_first_line(exc, 160)}): "
            "run `featurecast run` (or the step that builds it) first"
        )
    return ExitCode.INTERNAL, ""


def report(exc: BaseException, log_dir: Path | None) -> int:
    """Print one line for `exc` on stderr and return its exit code; unexpected errors go to the log."""
    from featurecast import interrupts

    if interrupts.received() is not None:
        return ExitCode.INTERRUPTED  # by a signal: main() prints the one line once the output is back
    if isinstance(exc, KeyboardInterrupt):
        print("featurecast: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    code, message = classify(exc)
    if code != ExitCode.INTERNAL:
        print(f"featurecast: {redact(message)}", file=sys.stderr)
        return code
    where = _log_traceback(exc, log_dir)
    print(
        f"featurecast: unexpected error ({type(exc).__name__}: {_first_line(exc, 200)}); the traceback is in {where}",
        file=sys.stderr,
    )
    return ExitCode.INTERNAL


def _log_traceback(exc: BaseException, log_dir: Path | None) -> str:
    lines = redact("".join(traceback.format_exception(exc)))
    if log_dir is not None:
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            path = log_dir / "cli-errors.log"
            with path.open("a") as log:
                log.write(f"--- {datetime.now(UTC):%Y-%m-%d %H:%M:%S} UTC {cut(' '.join(sys.argv), 300)}\n{lines}\n")
            return str(path)
        except OSError:
            pass
    return "(no log directory: run with -v to see it)"
