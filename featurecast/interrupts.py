"""Ctrl-C and SIGTERM stop every command the same way: exit 130, one line, no traceback, nothing half-landed.

`install()` (the CLI does it once) makes SIGINT and SIGTERM record the signal and raise KeyboardInterrupt
in the main thread, so `finally` blocks and transactions unwind as for Ctrl-C: the writer lock is released,
an open DuckDB transaction rolls back, a flow's temporary Prefect server is stopped. What the libraries
print while they unwind (dbt logs a KeyboardInterrupt with its stack trace, Prefect logs the crashed task
run) is not for the operator: from the first signal on, the process's stdout and stderr go to /dev/null
for good; the CLI's one line goes to the saved stderr (`say`). A second signal during the unwinding
is noted and ignored, so the clean-up finishes; a third ends the process at once (exit 130).

A supervisor that owns the signal handlers for a while (uvicorn's multi-process server) reports the
signals it handled with `note()`, so the command still knows it was interrupted; Prefect's own SIGTERM
handler during a flow run is pointed at ours (`bridge_prefect_sigterm`). Every test of this sends
real signals to a real second process (tests/python/test_interrupts.py).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Callable
from types import FrameType

SIGNALS = (signal.SIGINT, signal.SIGTERM)
_received: list[int] = []
_saved_fds: dict[int, int] = {}  # fd -> a duplicate of what it pointed at before the silence


def received() -> int | None:
    """The first interrupting signal this process received, if any."""
    return _received[0] if _received else None


def note(signum: int) -> None:
    """Record a signal another handler (a server supervisor) dealt with."""
    _received.append(signum)


def _flush() -> None:
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()


def _silence_output() -> None:
    _flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in (1, 2):
            if fd not in _saved_fds:
                _saved_fds[fd] = os.dup(fd)
                os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def say(line: str) -> None:
    """Write one line to the operator's stderr, silenced or not. The silence is kept: what exit handlers
    print afterwards (a flow's temporary Prefect server stopping) still goes to /dev/null."""
    _flush()
    os.write(_saved_fds.get(2, 2), (line + "\n").encode())


def _handle(signum: int, frame: FrameType | None) -> None:
    _received.append(signum)
    if len(_received) == 1:
        _silence_output()
        raise KeyboardInterrupt(signal.Signals(signum).name)
    if len(_received) >= 3:
        say("featurecast: interrupted again; stopped without cleaning up")
        os._exit(130)


def bridge_prefect_sigterm() -> None:
    """Make SIGTERM during a Prefect flow run stop the flow like Ctrl-C.

    While a flow runs, Prefect swaps its own SIGTERM handler in (raising `TerminationSignal`). Raised in the
    main thread while dbt runs a build, that exception is swallowed by dbt's event callbacks and the flow
    ran on to exit 0. Prefect's handler is looked up by name each time a flow starts, so pointing the name
    at ours makes SIGTERM behave as SIGINT does (KeyboardInterrupt, which dbt and Prefect unwind)."""
    import prefect.utilities.engine as engine

    engine._prefect_sigterm_handler = _handle  # type: ignore[assignment]


def install() -> Callable[[], None]:
    """Handle SIGINT and SIGTERM as above for one command; returns a function that puts the previous
    handlers back. (Once a signal came, the output stays silenced: the process is on its way out.)"""
    _received.clear()
    previous = {sig: signal.signal(sig, _handle) for sig in SIGNALS}

    def restore() -> None:
        for sig, handler in previous.items():
            signal.signal(sig, handler)

    return restore
