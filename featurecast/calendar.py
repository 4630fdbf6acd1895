"""The NYSE trading calendar, from pandas_market_calendars.

Why that library: its NYSE calendar models the exchange's own history back to 1885 (Saturday sessions
until 1952, holidays that came and went, unscheduled closures such as 1985-09-27 or 2012-10-29), where
exchange_calendars' XNYS applies today's holiday rules only from the 1960s and calls 1885-01-01 a
session. Hand-written rules got Martin Luther King Day wrong (observed only from 1998).

One definition serves both sides: the synthetic provider draws its sessions from it, ingestion rejects
bars outside `supported_span()`, and `seeds/market_calendar_exceptions.csv` (the dbt seed behind
`dim_trading_calendar`) is written from it by `featurecast calendar`: every weekday the exchange was
closed and every weekend day it was open. A test keeps the seed and the library identical.
"""

from __future__ import annotations

import csv
from datetime import date
from functools import lru_cache
from pathlib import Path

import pandas as pd

EXCHANGE = "NYSE"
# The library's earliest NYSE session year; the seed and the dbt spine start here.
CALENDAR_START = date(1885, 1, 1)
CALENDAR_END = date(2035, 12, 31)


def supported_span() -> tuple[date, date]:
    """The dates the calendar (and therefore the warehouse) covers, both included."""
    return CALENDAR_START, CALENDAR_END


@lru_cache(maxsize=1)
def _sessions() -> pd.DatetimeIndex:
    """Every NYSE session in the supported span (an explicit cache: the library takes ~0.4 s)."""
    import pandas_market_calendars as mcal

    days = mcal.get_calendar(EXCHANGE).valid_days(CALENDAR_START.isoformat(), CALENDAR_END.isoformat())
    return pd.DatetimeIndex(days.tz_localize(None) if days.tz is not None else days).normalize().as_unit("ns")


@lru_cache(maxsize=1)
def _holiday_names() -> dict[date, str]:
    import pandas_market_calendars as mcal

    named = mcal.get_calendar(EXCHANGE).regular_holidays.holidays(
        CALENDAR_START.isoformat(), CALENDAR_END.isoformat(), return_name=True
    )
    return {ts.date(): str(name) for ts, name in named.items()}


def trading_days(start: date, end: date) -> pd.DatetimeIndex:
    """Every NYSE session from `start` to `end`, both included (within the supported span)."""
    sessions = _sessions()
    return sessions[(sessions >= pd.Timestamp(start)) & (sessions <= pd.Timestamp(end))]


def exceptions(start: date = CALENDAR_START, end: date = CALENDAR_END) -> pd.DataFrame:
    """Days that break the Monday-to-Friday rule, as (date, is_session, description).

    A weekday the exchange was closed (a holiday or an unscheduled closure) or a weekend day it was
    open (Saturday sessions, until 1952).
    """
    sessions = trading_days(start, end)
    weekdays = pd.bdate_range(start, end).as_unit("ns")
    closed = weekdays.difference(sessions)
    weekend_sessions = sessions[sessions.day_of_week >= 5]
    names = _holiday_names()
    frame = pd.concat(
        [
            pd.DataFrame(
                {
                    "date": closed.date,
                    "is_session": False,
                    "description": [names.get(d, "unscheduled closure") for d in closed.date],
                }
            ),
            pd.DataFrame({"date": weekend_sessions.date, "is_session": True, "description": "weekend session"}),
        ],
        ignore_index=True,
    )
    return frame.sort_values("date").reset_index(drop=True)


def holidays(start: date = CALENDAR_START, end: date = CALENDAR_END) -> pd.DataFrame:
    """Weekday exchange closures between `start` and `end` as a frame of (date, holiday_name)."""
    frame = exceptions(start, end)
    closed = frame[~frame["is_session"]]
    return closed.rename(columns={"description": "holiday_name"})[["date", "holiday_name"]].reset_index(drop=True)


def write_calendar_seed(path: Path) -> int:
    """Write the dbt seed of calendar exceptions; returns the number of rows written."""
    frame = exceptions()
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["calendar_date", "is_session", "description"])
        for row in frame.itertuples(index=False):
            writer.writerow([row.date.isoformat(), "true" if row.is_session else "false", row.description])
    return len(frame)
