"""Argument types that validate where arguments are parsed, and a parser whose usage errors exit 3."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import NoReturn

from featurecast.cli.errors import ExitCode


class Parser(argparse.ArgumentParser):
    """argparse with one-line usage errors and the exit code the table reserves for them (3, not 2)."""

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: {message} (see `{self.prog} --help`)", file=sys.stderr)
        raise SystemExit(ExitCode.USAGE)


def _number(text: str, kind: type[int] | type[float]) -> float:
    try:
        value = kind(text)
    except ValueError:
        kind_name = "whole number" if kind is int else "number"
        raise argparse.ArgumentTypeError(f"expected a {kind_name}, got {text[:40]!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text[:40]!r}")
    return value


def _span(low: float | None, high: float | None, low_open: bool) -> str:
    floor = None if low is None else (f"greater than {low:g}" if low_open else f"at least {low:g}")
    if high is None:
        return floor or "a number"
    if floor is None:
        return f"at most {high:g}"
    return f"{floor} and at most {high:g}"


def bounded(
    kind: type[int] | type[float], *, low: float | None = None, high: float | None = None, low_open: bool = False
) -> Callable[[str], float]:
    """An argparse type: a finite number of `kind` within [low, high] ((low, high] when `low_open`)."""

    def parse(text: str) -> float:
        value = _number(text, kind)
        too_low = low is not None and (value <= low if low_open else value < low)
        if too_low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {_span(low, high, low_open)}, got {text[:40]}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in its messages
    return parse


positive_int = bounded(int, low=1)
non_negative_float = bounded(float, low=0.0)
positive_float = bounded(float, low=0.0, low_open=True)


def iso_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date as YYYY-MM-DD, got {text[:40]!r}") from None


def ticker(text: str) -> str:
    """An argparse type: a symbol from the documented alphabet, upper-cased; never rewritten otherwise."""
    from featurecast.marketdata.errors import InvalidValueError
    from featurecast.marketdata.validation import normalize_symbol

    try:
        return normalize_symbol(text)
    except InvalidValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def date_pattern(text: str) -> str:
    """An argparse type: a strptime pattern that reads back a date it wrote, with a year, a month and a day
    (or ISO8601), so a typo is a usage error here and not a failure inside the import."""
    from datetime import datetime

    if text.upper() == "ISO8601":
        return "ISO8601"
    sample = datetime(2024, 11, 28)
    try:
        read = datetime.strptime(sample.strftime(text), text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date pattern: {text[:40]!r} ({exc})") from None
    if read.date() != sample.date():
        raise argparse.ArgumentTypeError(
            f"not a date pattern: {text[:40]!r} does not give a year, a month and a day (e.g. %d/%m/%Y)"
        )
    return text


def port(text: str) -> int:
    return int(bounded(int, low=1, high=65535)(text))


def output_file(suffix: str) -> Callable[[str], Path]:
    """An argparse type for a file the command writes: it must end in `suffix` (so no command can be
    pointed at the warehouse or another data file) and its directory must exist."""

    def parse(text: str) -> Path:
        path = Path(text)
        if path.suffix.lower() != suffix:
            raise argparse.ArgumentTypeError(f"must be a {suffix} file, got {text[:80]!r}")
        if not path.parent.is_dir():
            raise argparse.ArgumentTypeError(f"no such directory: {str(path.parent)[:80]!r}")
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"is a directory: {text[:80]!r}")
        return path

    parse.__name__ = f"{suffix} file"
    return parse
