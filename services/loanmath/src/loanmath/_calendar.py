"""Business-day calendars and conventions, so a due date never falls on a closed day."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Protocol, runtime_checkable

import holidays

from loanmath._errors import LoanMathError

_ONE_DAY = timedelta(days=1)
# No real calendar closes for this long; a calendar that does is treated as broken.
_MAX_CLOSED_RUN = 366


class BusinessDayConvention(StrEnum):
    """How a due date on a non-business day moves (ISDA 2006 4.12); values are stable."""

    UNADJUSTED = "unadjusted"
    FOLLOWING = "following"
    MODIFIED_FOLLOWING = "modified_following"
    PRECEDING = "preceding"


@runtime_checkable
class HolidayCalendar(Protocol):
    """Tells which days are open for payments; implementations must be hashable and pure."""

    def is_business_day(self, day: date, /) -> bool:
        """Tell whether payments can be made on this day."""
        ...


@dataclass(frozen=True, slots=True)
class WeekendCalendar:
    """Only weekends are closed (Saturday and Sunday by default; ISO weekday numbers 1-7)."""

    weekend: frozenset[int] = frozenset({6, 7})

    def is_business_day(self, day: date, /) -> bool:
        """Tell whether the day is a weekday."""
        return day.isoweekday() not in self.weekend


@functools.lru_cache(maxsize=64)
def _country_holidays(country: str, subdiv: str | None) -> holidays.HolidayBase:
    """Load one country's holidays once; the object fills in each year on first lookup."""
    try:
        return holidays.country_holidays(country, subdiv=subdiv)
    except NotImplementedError:
        raise LoanMathError(f"no holiday calendar for {country!r} {subdiv or ''}".strip()) from None


@dataclass(frozen=True, slots=True)
class CountryHolidayCalendar:
    """Public holidays (observed dates) of a country or subdivision plus its weekend days."""

    country: str
    subdiv: str | None = None

    def __post_init__(self) -> None:
        """Fail at construction on an unknown country, not at the first due date."""
        _country_holidays(self.country, self.subdiv)

    def is_business_day(self, day: date, /) -> bool:
        """Tell whether the day is neither a weekend day nor a public holiday."""
        table = _country_holidays(self.country, self.subdiv)
        # holidays numbers weekdays from Monday = 0, like date.weekday().
        return day.weekday() not in table.weekend and day not in table


def holiday_calendar(country: str, subdiv: str | None = None) -> CountryHolidayCalendar:
    """Return the business-day calendar of an ISO 3166 country (and optional subdivision)."""
    return CountryHolidayCalendar(country, subdiv)


def _roll(day: date, calendar: HolidayCalendar, step: timedelta) -> date:
    """Move day by step until it is a business day."""
    for _ in range(_MAX_CLOSED_RUN):
        if calendar.is_business_day(day):
            return day
        day += step
    raise LoanMathError(f"calendar {calendar!r} has no business day near {day}")


def adjust_date(
    day: date, convention: BusinessDayConvention, calendar: HolidayCalendar | None = None
) -> date:
    """Move a date onto a business day per the convention (weekends only when no calendar)."""
    convention = BusinessDayConvention(convention)
    if convention is BusinessDayConvention.UNADJUSTED:
        return day
    cal: HolidayCalendar = WeekendCalendar() if calendar is None else calendar
    if convention is BusinessDayConvention.PRECEDING:
        return _roll(day, cal, -_ONE_DAY)
    following = _roll(day, cal, _ONE_DAY)
    if convention is BusinessDayConvention.MODIFIED_FOLLOWING and following.month != day.month:
        return _roll(day, cal, -_ONE_DAY)
    return following
