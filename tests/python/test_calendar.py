"""The trading calendar comes from pandas_market_calendars' NYSE calendar; the dbt seed is written from it."""

from datetime import date
from pathlib import Path

import pytest

from featurecast.calendar import holidays, supported_span, trading_days, write_calendar_seed
from featurecast.config import PROJECT_ROOT


def test_seed_matches_the_calendar_library(tmp_path: Path) -> None:
    fresh = tmp_path / "market_calendar_exceptions.csv"
    write_calendar_seed(fresh)
    committed = PROJECT_ROOT / "seeds" / "market_calendar_exceptions.csv"
    assert committed.read_text() == fresh.read_text(), "run `featurecast calendar` to refresh the seed"


@pytest.mark.parametrize(
    ("day", "is_session"),
    [
        (date(1997, 1, 20), True),  # Martin Luther King Day: the NYSE closed for it only from 1998
        (date(1998, 1, 19), False),
        (date(2001, 9, 11), False),
        (date(2001, 9, 14), False),
        (date(2001, 9, 17), True),  # reopened after 9/11
        (date(2012, 10, 29), False),  # Hurricane Sandy
        (date(2012, 10, 30), False),
        (date(1985, 9, 27), False),  # Hurricane Gloria
        (date(1987, 10, 19), True),  # the crash was a session
        (date(1952, 5, 24), True),  # a Saturday session, before they ended in 1952
        (date(2022, 6, 20), False),  # Juneteenth observed
        (date(2021, 12, 31), True),  # New Year's Day 2022 on a Saturday: no Friday closure
        (date(2025, 1, 9), False),  # National Day of Mourning (Carter)
    ],
)
def test_known_nyse_facts(day: date, is_session: bool) -> None:
    assert (len(trading_days(day, day)) == 1) is is_session


def test_the_span_reaches_back_to_the_librarys_first_nyse_session() -> None:
    first, last = supported_span()
    assert first == date(1885, 1, 1) and last >= date(2035, 12, 31)
    assert trading_days(first, date(1885, 1, 10))[0].date() == date(1885, 1, 2)
    assert len(trading_days(date(2024, 1, 1), date(2024, 12, 31))) == 252


def test_holidays_are_weekday_closures_only() -> None:
    closed = holidays(date(2023, 1, 1), date(2023, 12, 31))
    sessions = {d.date() for d in trading_days(date(2023, 1, 1), date(2023, 12, 31))}
    assert not set(closed["date"]) & sessions
    assert all(d.weekday() < 5 for d in closed["date"])
    assert len(closed) == 10
