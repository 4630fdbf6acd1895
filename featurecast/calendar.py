"""The NYSE trading calendar: which weekdays are exchange holidays.

One definition serves both sides: the synthetic provider draws its sessions from it, and
`seeds/market_holidays.csv` (the dbt seed behind `dim_trading_calendar`) is written from it by
`featurecast calendar`, with a test keeping the two identical.
"""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pandas as pd
from pandas.tseries.holiday import (
    AbstractHolidayCalendar,
    GoodFriday,
    Holiday,
    USLaborDay,
    USMartinLutherKingJr,
    USMemorialDay,
    USPresidentsDay,
    USThanksgivingDay,
    nearest_workday,
    sunday_to_monday,
)

CALENDAR_START = date(1990, 1, 1)
CALENDAR_END = date(2035, 12, 31)

# Unscheduled full-day closures (national mourning, 9/11, Hurricane Sandy).
SPECIAL_CLOSURES: dict[str, str] = {
    "1994-04-27": "National Day of Mourning (Nixon)",
    "2001-09-11": "September 11 closure",
    "2001-09-12": "September 11 closure",
    "2001-09-13": "September 11 closure",
    "2001-09-14": "September 11 closure",
    "2004-06-11": "National Day of Mourning (Reagan)",
    "2007-01-02": "National Day of Mourning (Ford)",
    "2012-10-29": "Hurricane Sandy closure",
    "2012-10-30": "Hurricane Sandy closure",
    "2018-12-05": "National Day of Mourning (G.H.W. Bush)",
    "2025-01-09": "National Day of Mourning (Carter)",
}


class NYSEHolidayCalendar(AbstractHolidayCalendar):
    """Scheduled NYSE full-day holidays. New Year's Day on a Saturday is not moved to Friday."""

    rules = [  # noqa: RUF012 - pandas expects a class attribute list
        Holiday("New Year's Day", month=1, day=1, observance=sunday_to_monday),
        USMartinLutherKingJr,
        USPresidentsDay,
        GoodFriday,
        USMemorialDay,
        Holiday("Juneteenth", month=6, day=19, start_date="2022-01-01", observance=nearest_workday),
        Holiday("Independence Day", month=7, day=4, observance=nearest_workday),
        USLaborDay,
        USThanksgivingDay,
        Holiday("Christmas Day", month=12, day=25, observance=nearest_workday),
    ]


def holidays(start: date = CALENDAR_START, end: date = CALENDAR_END) -> pd.DataFrame:
    """Weekday exchange closures between `start` and `end` as a frame of (date, holiday_name)."""
    scheduled = NYSEHolidayCalendar().holidays(start=start, end=end, return_name=True)
    frame = pd.DataFrame({"date": scheduled.index.date, "holiday_name": scheduled.values})
    special = pd.DataFrame(
        {"date": [date.fromisoformat(d) for d in SPECIAL_CLOSURES], "holiday_name": list(SPECIAL_CLOSURES.values())}
    )
    frame = pd.concat([frame, special], ignore_index=True)
    frame = frame[(frame["date"] >= start) & (frame["date"] <= end)]
    # Observed dates can land on a weekend only for rules we do not move; keep weekdays only.
    frame = frame[pd.to_datetime(frame["date"]).dt.day_of_week < 5]
    return frame.drop_duplicates("date").sort_values("date").reset_index(drop=True)


def trading_days(start: date, end: date) -> pd.DatetimeIndex:
    """Every NYSE session from `start` to `end`, both included."""
    closed = set(holidays(min(start, CALENDAR_START), max(end, CALENDAR_END))["date"])
    days = pd.bdate_range(start, end)
    return days[[d.date() not in closed for d in days]]


def write_holiday_seed(path: Path) -> int:
    """Write the dbt seed of exchange holidays; returns the number of rows written."""
    frame = holidays()
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["holiday_date", "holiday_name"])
        for row in frame.itertuples(index=False):
            writer.writerow([row.date.isoformat(), row.holiday_name])
    return len(frame)
