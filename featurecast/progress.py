"""Progress of long work (training folds, the regime backfill, forecast backfills, full dbt builds).

`Progress` counts done work against the total and, at most every `every` seconds, reports one line with
an estimate of what is left, e.g.

    training lightgbm: fold 3 of 5 done (41 % of the rows), 2 min 10 s so far, about 3 min 5 s left

to the terminal (stderr) and, inside a Prefect flow or task run, to its log. Work quicker than `every`
reports nothing: a nightly run stays quiet; a first night says where it is. The estimate assumes the
rest goes at the pace so far, weighted by each step's size (a fold's training rows, a segment's days).
"""

from __future__ import annotations

import sys
import time
from typing import Any


def _duration(seconds: float) -> str:
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, rest = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {rest} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def _prefect_logger() -> Any:
    """The current Prefect run's logger, or None outside a run (or without Prefect)."""
    try:
        from prefect.context import FlowRunContext, TaskRunContext
        from prefect.logging import get_run_logger
    except ImportError:
        return None
    if FlowRunContext.get() is None and TaskRunContext.get() is None:
        return None
    return get_run_logger()


class Progress:
    """Reports `what`'s progress; `advance(weight, step=...)` after each step."""

    def __init__(self, what: str, total: float, *, every: float = 10.0) -> None:
        self.what = what
        self.total = float(total)
        self.every = every
        self.done = 0.0
        self.started = time.monotonic()
        self.last_report = self.started
        self.reported = 0

    def advance(self, weight: float = 1.0, *, step: str = "") -> str | None:
        """Count `weight` more done; returns the line reported, if one was due."""
        self.done += weight
        now = time.monotonic()
        finished = self.done >= self.total
        if now - self.last_report < self.every and not (finished and self.reported):
            return None
        elapsed = now - self.started
        share = min(1.0, self.done / self.total) if self.total else 1.0
        line = f"{self.what}: {step + ' ' if step else ''}({share:.0%}), {_duration(elapsed)} so far"
        if finished:
            line += ", done"
        elif share > 0:
            line += f", about {_duration(elapsed / share - elapsed)} left"
        self.report(line)
        self.last_report = now
        return line

    def report(self, line: str) -> None:
        self.reported += 1
        sys.stderr.write(line + "\n")  # not print(): a flow's log_prints would take it off the terminal
        sys.stderr.flush()
        logger = _prefect_logger()
        if logger is not None:
            logger.info(line)
