"""The trading calendar: one definition for the synthetic provider and the dbt seed."""

from datetime import date
from pathlib import Path

from featurecast.calendar import holidays, trading_days, write_holiday_seed
from featurecast.config import PROJECT_ROOT


def test_seed_matches_the_calendar_module(tmp_path: Path) -> None:
    fresh = tmp_path / "market_holidays.csv"
    write_holiday_seed(fresh)
    committed = PROJECT_ROOT / "seeds" / "market_holidays.csv"
    assert committed.read_text() == fresh.read_text(), "run `featurecast calendar` to refresh the seed"


def test_known_nyse_sessions() -> None:
    assert len(trading_days(date(2024, 1, 1), date(2024, 12, 31))) == 252
    closed = set(holidays(date(2022, 1, 1), date(2025, 12, 31))["date"])
    assert date(2022, 6, 20) in closed  # Juneteenth observed on Monday
    assert date(2021, 12, 31) not in closed  # New Year's Day 2022 fell on a Saturday: no Friday closure
    assert date(2024, 3, 29) in closed  # Good Friday
    assert date(2025, 1, 9) in closed  # National Day of Mourning
    assert date(2012, 10, 29) in set(holidays(date(2012, 1, 1), date(2012, 12, 31))["date"])


def test_trading_days_have_no_weekends_or_holidays() -> None:
    days = trading_days(date(2023, 1, 1), date(2023, 12, 31))
    closed = set(holidays(date(2023, 1, 1), date(2023, 12, 31))["date"])
    assert all(d.day_of_week < 5 for d in days)
    assert not {d.date() for d in days} & closed
